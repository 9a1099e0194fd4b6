#include "proj.h"

/* f03: a little arithmetic the compiler cannot fold away. */
long f03(long x)
{
	long s = 0;
	for (long k = 0; k < x; k++)
		s += (k * 3) % 9 + (s >> 3);
	return s % 100003;
}
