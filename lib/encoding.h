/* encoding.h - placeholder */
