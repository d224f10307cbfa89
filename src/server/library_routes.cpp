// Model library routes (admin scope): GET /v1/library/search and GET /v1/library/models/{id}.
// Present only when the build has the model library (XERVO_HAVE_LIBRARY).
#include "server/server_state.h"

namespace xervo::server {

#if XERVO_HAVE_LIBRARY
#error "library routes: to be written"
#else
void add_library_routes(httplib::Server&, ServerState&) {}
#endif

}  // namespace xervo::server
