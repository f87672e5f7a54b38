/* multikey.h - placeholder */
