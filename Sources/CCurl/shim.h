#ifndef LALO_CCURL_SHIM_H
#define LALO_CCURL_SHIM_H
#include <curl/curl.h>

/// curl_easy_setopt is variadic; these typed wrappers are what Swift calls.
static inline CURLcode lalo_curl_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode lalo_curl_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode lalo_curl_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode lalo_curl_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

/// The runtime libcurl version string (CURLVERSION_NOW is a macro Swift cannot see).
static inline const char *lalo_curl_version(void) {
    return curl_version_info(CURLVERSION_NOW)->version;
}
#endif
