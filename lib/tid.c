/* tid.c - atproto TIDs: a 64-bit value (top bit 0, 53 bits of microseconds, 10 bits of clock id)
 * written as 13 characters of a base32 alphabet whose byte order equals numeric order. */
#include "tid.h"

#include <pthread.h>
#include <sys/random.h>
#include <time.h>

#include "syntax.h"

static const char tid_alphabet[] = "234567abcdefghijklmnopqrstuvwxyz";

#define TID_MICROS_MASK ((1ULL << 53) - 1)
#define TID_CLOCK_MASK 1023U

void tid_encode(unsigned long long micros, unsigned clock_id, char out[14])
{
	unsigned long long v = ((micros & TID_MICROS_MASK) << 10) | (clock_id & TID_CLOCK_MASK);
	for (int i = 12; i >= 0; i--) {
		out[i] = tid_alphabet[v & 31];
		v >>= 5;
	}
	out[13] = '\0';
}

int tid_decode(const char *tid, unsigned long long *micros, unsigned *clock_id)
{
	if (!syntax_tid_ok(tid))
		return -1;
	unsigned long long v = 0;
	for (int i = 0; i < 13; i++) {
		char c = tid[i];
		unsigned d = c >= 'a' ? (unsigned)(c - 'a') + 6 : (unsigned)(c - '2');
		v = (v << 5) | d;
	}
	if (micros)
		*micros = v >> 10;
	if (clock_id)
		*clock_id = (unsigned)(v & TID_CLOCK_MASK);
	return 0;
}

/* The generator's state: shared by all threads, so only touched under the mutex. */
static pthread_mutex_t tid_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long long tid_last_micros;
static unsigned tid_clock_id;
static int tid_clock_chosen;

static unsigned random_clock_id(void)
{
	unsigned short r = 0;
	if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) {
		/* No entropy source: any clock id is still correct, only less collision-resistant. */
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		r = (unsigned short)(ts.tv_nsec ^ ts.tv_sec);
	}
	return r & TID_CLOCK_MASK;
}

void tid_next(char out[14])
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	unsigned long long now = (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000;

	pthread_mutex_lock(&tid_lock);
	if (!tid_clock_chosen) {
		tid_clock_id = random_clock_id();
		tid_clock_chosen = 1;
	}
	/* The wall clock may stand still or step back: never hand out a TID twice or out of order. */
	if (now <= tid_last_micros)
		now = tid_last_micros + 1;
	tid_last_micros = now;
	unsigned clock_id = tid_clock_id;
	pthread_mutex_unlock(&tid_lock);

	tid_encode(now, clock_id, out);
}
