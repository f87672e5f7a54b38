/* appview_config.c placeholder */
