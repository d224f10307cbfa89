// The shell: asks for a key when the server wants one, learns the key's scopes, and shows the pages
// those scopes allow (hash routes: #/models, #/library, ...).
import { useEffect, useState } from 'preact/hooks';
import { ApiError, json } from './lib/api';
import { can, forgetKey, loadKey, normalizeKey, pagesFor, saveKey, type Page, type Who } from './lib/auth';
import { events, metrics } from './feeds';
import { Models } from './pages/models';
import { Library } from './pages/library';
import { Playground } from './pages/playground';
import { Metrics } from './pages/metrics';
import { Activity } from './pages/activity';

const TITLES: Record<Page, string> = {
  models: 'Models',
  library: 'Library',
  playground: 'Playground',
  metrics: 'Metrics',
  activity: 'Activity',
};

function currentPage(): string {
  return location.hash.replace(/^#\/?/, '') || 'models';
}

function Login(props: { error: string; onKey: (key: string) => void }) {
  const [text, setText] = useState('');
  const [local, setLocal] = useState('');
  const submit = (e: Event) => {
    e.preventDefault();
    const key = normalizeKey(text);
    if (!key) {
      setLocal('That is not an API key (empty, or it has spaces inside).');
      return;
    }
    setLocal('');
    props.onKey(key);
  };
  return (
    <main class="login">
      <form class="card" onSubmit={submit} data-testid="login">
        <h1>xervo</h1>
        <p>This server requires an API key.</p>
        <label>
          API key
          <input
            type="password"
            autocomplete="off"
            name="api-key"
            value={text}
            onInput={(e) => setText((e.target as HTMLInputElement).value)}
            data-testid="api-key"
            autofocus
          />
        </label>
        <button type="submit" data-testid="sign-in">
          Sign in
        </button>
        {(local || props.error) && (
          <p class="error" role="alert" data-testid="login-error">
            {local || props.error}
          </p>
        )}
        <p class="hint">The key stays in this tab (session storage) and goes to this server only, as a header.</p>
      </form>
    </main>
  );
}

export function App() {
  const [who, setWho] = useState<Who | null>(null);
  const [checking, setChecking] = useState(true);
  const [loginError, setLoginError] = useState('');
  const [needKey, setNeedKey] = useState(false);
  const [page, setPage] = useState(currentPage());

  const check = async (key: string | null) => {
    setChecking(true);
    try {
      const w = await json<Who>('/v1/auth/whoami', { key });
      if (key) saveKey(key);
      setWho(w);
      setNeedKey(false);
      setLoginError('');
    } catch (e) {
      const err = e as ApiError;
      if (err.status === 401 || err.status === 403) {
        forgetKey();
        setNeedKey(true);
        setLoginError(key ? `The server refused this key: ${err.message}` : '');
      } else {
        setLoginError(`Cannot reach the server: ${err.message}`);
        setNeedKey(true);
      }
      setWho(null);
    } finally {
      setChecking(false);
    }
  };

  useEffect(() => {
    void check(loadKey());
    const onHash = () => setPage(currentPage());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);

  useEffect(() => {
    if (!who) return;
    if (can(who, 'admin')) events.start();
    if (can(who, 'metrics')) metrics.start();
    return () => {
      events.stop();
      metrics.stop();
    };
  }, [who]);

  if (checking && !who) return <main class="login"><p>Connecting…</p></main>;
  if (needKey || !who) return <Login error={loginError} onKey={(k) => void check(k)} />;

  const pages = pagesFor(who);
  const active = (pages.includes(page as Page) ? page : pages[0]) as Page | undefined;
  const signOut = () => {
    forgetKey();
    setWho(null);
    setNeedKey(true);
  };
  return (
    <div class="shell">
      <header class="top">
        <span class="brand">xervo</span>
        <nav>
          {pages.map((p) => (
            <a href={`#/${p}`} class={p === active ? 'active' : ''} data-testid={`nav-${p}`}>
              {TITLES[p]}
            </a>
          ))}
        </nav>
        <span class="who" data-testid="who">
          {who.auth ? `${who.kind} ${who.name} · ${who.scopes.join(', ')}` : 'no authentication'}
          {who.auth && (
            <button class="link" onClick={signOut} data-testid="sign-out">
              sign out
            </button>
          )}
        </span>
      </header>
      <main class="page">
        {!active && <p>This key may use none of the dashboard's pages.</p>}
        {active === 'models' && <Models who={who} />}
        {active === 'library' && <Library who={who} />}
        {active === 'playground' && <Playground />}
        {active === 'metrics' && <Metrics />}
        {active === 'activity' && <Activity who={who} />}
      </main>
    </div>
  );
}
