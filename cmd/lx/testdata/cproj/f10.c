#include "proj.h"

/* f10: a little arithmetic the compiler cannot fold away. */
long f10(long x)
{
	long s = 0;
	for (long k = 0; k < x; k++)
		s += (k * 10) % 16 + (s >> 3);
	return s % 100003;
}
