/* The learning notes: the Markdown files of one folder, served as HTML pages at /notes/. */
#ifndef TINCAN_APP_NOTES_H
#define TINCAN_APP_NOTES_H

#include "tincan/tincan.h"

/* Serves the notes in dir on srv: /notes/ is dir/README.md (the index) and /notes/NAME is
 * dir/NAME.md, where NAME is lower-case letters, digits and dashes. Pages are rendered with cmark
 * on first request and rendered again only when their file changes. Relative links to "X.md"
 * become links to the page X, so that the same files read well in a repository browser.
 * The state is freed with the server. 0, TC_ENOENT (dir is not a folder), TC_ENOMEM. */
int tc_notes_route(tc_http_server_t *srv, const char *dir, const tc_logger_t *log);

#endif
