/* fcgi.h - placeholder */
