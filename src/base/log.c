#include "tincan/base.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

const char *tc_log_level_name(tc_log_level_t level) {
  return (unsigned)level <= TC_LOG_OFF ? level_names[level] : "?";
}

int tc_log_level_parse(const char *name, tc_log_level_t *out) {
  for (int i = 0; i <= TC_LOG_OFF; i++) {
    if (strcmp(name, level_names[i]) == 0) {
      *out = (tc_log_level_t)i;
      return 0;
    }
  }
  if (strcmp(name, "warning") == 0) {
    *out = TC_LOG_WARN;
    return 0;
  }
  return TC_EINVAL;
}

void tc_log(const tc_logger_t *lg, tc_log_level_t level, const char *module, const char *fmt, ...) {
  if (!lg || !lg->fn || level < lg->min_level || level >= TC_LOG_OFF) return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  lg->fn(lg, level, module, msg);
}

void tc_log_stderr(const tc_logger_t *lg, tc_log_level_t level, const char *module,
                   const char *msg) {
  (void)lg;
  char ts[32];
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
  fprintf(stderr, "%s %s %s: %s\n", ts, tc_log_level_name(level), module, msg);
}
