#include "proj.h"

/* f02: a little arithmetic the compiler cannot fold away. */
long f02(long x)
{
	long s = 0;
	for (long k = 0; k < x; k++)
		s += (k * 2) % 8 + (s >> 3);
	return s % 100003;
}
