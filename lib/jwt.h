/* jwt.h - placeholder */
