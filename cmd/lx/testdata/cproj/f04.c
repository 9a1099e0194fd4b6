#include "proj.h"

/* f04: a little arithmetic the compiler cannot fold away. */
long f04(long x)
{
	long s = 0;
	for (long k = 0; k < x; k++)
		s += (k * 4) % 10 + (s >> 3);
	return s % 100003;
}
