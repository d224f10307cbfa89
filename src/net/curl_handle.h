// RAII owners for libcurl's C handles, and the one-time global initialisation libcurl requires.
// Internal to src/net: no public header ever names a curl type.
#pragma once

#include <curl/curl.h>

#include <memory>

namespace xervo::net {

struct CurlEasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct CurlMultiDeleter {
  void operator()(CURLM* h) const { curl_multi_cleanup(h); }
};
struct CurlSlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
struct CurlShareDeleter {
  void operator()(CURLSH* h) const { curl_share_cleanup(h); }
};

using CurlEasy = std::unique_ptr<CURL, CurlEasyDeleter>;
using CurlMulti = std::unique_ptr<CURLM, CurlMultiDeleter>;
using CurlSlist = std::unique_ptr<curl_slist, CurlSlistDeleter>;
using CurlShare = std::unique_ptr<CURLSH, CurlShareDeleter>;

// curl_global_init is not thread-safe: every user goes through this (std::call_once inside).
void ensure_curl_initialized();

}  // namespace xervo::net
