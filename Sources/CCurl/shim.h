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

static inline CURLcode lalo_curl_getinfo_double(CURL *handle, CURLINFO info, double *value) {
    return curl_easy_getinfo(handle, info, value);
}

typedef size_t (*lalo_curl_data_callback)(char *data, size_t size, size_t count, void *context);
typedef int (*lalo_curl_progress_callback)(void *context, curl_off_t dltotal, curl_off_t dlnow,
                                           curl_off_t ultotal, curl_off_t ulnow);

static inline CURLcode lalo_curl_setopt_write_function(CURL *handle, lalo_curl_data_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, callback);
}
static inline CURLcode lalo_curl_setopt_header_function(CURL *handle, lalo_curl_data_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, callback);
}
static inline CURLcode lalo_curl_setopt_progress_function(CURL *handle, lalo_curl_progress_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, callback);
}
static inline CURLcode lalo_curl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *list) {
    return curl_easy_setopt(handle, option, list);
}
static inline CURLcode lalo_curl_setopt_off(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}

/// The runtime libcurl version string (CURLVERSION_NOW is a macro Swift cannot see).
static inline const char *lalo_curl_version(void) {
    return curl_version_info(CURLVERSION_NOW)->version;
}
#endif
