// The access-control tables of [server]: [server.auth] (keys, roles, jwt, keys_file) and
// [server.audit], read into ServerOptions by parse_server_options. Pure functions.
#pragma once

#include <nlohmann/json.hpp>

#include "xervo/error.h"
#include "xervo/server.h"

namespace xervo::server {

Result<void> parse_auth_section(const nlohmann::json& auth, ServerOptions& options);
Result<void> parse_audit_section(const nlohmann::json& audit, ServerOptions& options);
// Keys against roles (known roles, scopes, CIDRs, unique names) and trusted_proxies; config_invalid.
Result<void> validate_access(const ServerOptions& options);

}  // namespace xervo::server
