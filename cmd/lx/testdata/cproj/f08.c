#include "proj.h"

/* f08: a little arithmetic the compiler cannot fold away. */
long f08(long x)
{
	long s = 0;
	for (long k = 0; k < x; k++)
		s += (k * 8) % 14 + (s >> 3);
	return s % 100003;
}
