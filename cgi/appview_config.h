/* appview_config.h - the AppView's configuration schema (every key, default and help text). */
#ifndef ATCR_APPVIEW_CONFIG_H
#define ATCR_APPVIEW_CONFIG_H
#include "config.h"

/* Terminated by an entry with a NULL key. */
extern const cfg_option appview_options[];

#endif
