import type { ComponentChildren } from 'preact';

// A scrollable table with a header row: the shape of every list the pages show. Its children are
// the <tr> elements of the body.
export function Table(props: { testid?: string; headers: string[]; grow?: boolean; children: ComponentChildren }) {
  return (
    <div class={props.grow ? 'table-wrap grow' : 'table-wrap'}>
      <table data-testid={props.testid}>
        <thead>
          <tr>
            {props.headers.map((h) => (
              <th>{h}</th>
            ))}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}
