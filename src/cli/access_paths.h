// Where `xervo serve`, `xervo keys` and `xervo audit` find the keys file and the audit log: the
// config's [server.auth] keys_file and [server.audit] path, else XERVO_HOME/keys.json and
// XERVO_HOME/audit.log. One function so that the three agree.
#pragma once

#include "xervo/server.h"

namespace xervo::cli {

void fill_access_defaults(ServerOptions& options);

}  // namespace xervo::cli
