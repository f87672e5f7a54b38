/* crypto.h - placeholder */
