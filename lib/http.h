/* http.h - placeholder */
