/* test_tid.c - TID encoding against values computed independently (Python, from the spec), the
 * vectors, and the generator's ordering within and across threads. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "syntax.h"
#include "tap.h"
#include "tid.h"

#define PER_THREAD 25000
#define THREADS 4

typedef struct {
	char (*tids)[14];
	int sorted;
} worker;

static void *generate(void *arg)
{
	worker *w = arg;
	w->sorted = 1;
	for (int i = 0; i < PER_THREAD; i++) {
		tid_next(w->tids[i]);
		if (i > 0 && strcmp(w->tids[i - 1], w->tids[i]) >= 0)
			w->sorted = 0;
	}
	return NULL;
}

static int cmp_tid(const void *a, const void *b)
{
	return strcmp(a, b);
}

static unsigned long long now_micros(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000;
}

int main(void)
{
	char out[14];
	unsigned long long micros;
	unsigned clock_id;

	/* Known answers (independently computed: value = micros << 10 | clock id, 5 bits per char). */
	tid_encode(0, 0, out);
	is_str(out, "2222222222222", "tid_encode(0, 0)");
	tid_encode(1700000000123456ULL, 513, out);
	is_str(out, "3ke6kg42cm2k3", "tid_encode(1700000000123456, 513)");
	tid_encode((1ULL << 53) - 1, 1023, out);
	is_str(out, "bzzzzzzzzzzzz", "largest 53-bit timestamp and clock id");
	tid_encode(0, 1024 + 5, out);
	is_str(out, "2222222222227", "clock id is masked to 10 bits");

	static const struct {
		const char *tid;
		unsigned long long micros;
		unsigned clock;
	} known[] = {
		{"3jzfcijpj2z2a", 1688137381887007ULL, 6},
		{"7777777777777", 5811096293381285ULL, 165},
		{"3zzzzzzzzzzzz", 2251799813685247ULL, 1023},
		{"2222222222222", 0, 0},
	};
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
		int rc = tid_decode(known[i].tid, &micros, &clock_id);
		ok(rc == 0 && micros == known[i].micros && clock_id == known[i].clock, "decode vector %s", known[i].tid);
		if (micros < (1ULL << 53)) {
			tid_encode(micros, clock_id, out);
			ok(strcmp(out, known[i].tid) == 0, "re-encode vector %s (got %s)", known[i].tid, out);
		}
	}
	ok(tid_decode("3jzfcijpj2z2a", NULL, NULL) == 0, "decode with no outputs");
	ok(tid_decode("3JZFCIJPJ2Z2A", &micros, &clock_id) == -1, "upper case refused");
	ok(tid_decode("kjzfcijpj2z2a", &micros, &clock_id) == -1, "high bit refused");
	ok(tid_decode("3jzfcijpj2z2", &micros, &clock_id) == -1, "short TID refused");
	ok(tid_decode(NULL, &micros, &clock_id) == -1, "NULL refused");

	/* Round trips over the whole range. */
	int round_ok = 1;
	srand(42);
	for (int i = 0; i < 10000; i++) {
		unsigned long long m = (((unsigned long long)rand() << 31) ^ (unsigned long long)rand()) & ((1ULL << 53) - 1);
		unsigned c = (unsigned)rand() & 1023;
		tid_encode(m, c, out);
		if (!syntax_tid_ok(out) || tid_decode(out, &micros, &clock_id) != 0 || micros != m || clock_id != c)
			round_ok = 0;
	}
	ok(round_ok, "10000 random encode/decode round trips");

	/* The generator: 100000 calls in one thread. */
	char prev[14] = "", first[14];
	int sorted = 1, valid = 1, same_clock = 1;
	unsigned first_clock = 0;
	unsigned long long before = now_micros();
	for (int i = 0; i < 100000; i++) {
		tid_next(out);
		if (!syntax_tid_ok(out))
			valid = 0;
		if (i == 0) {
			memcpy(first, out, 14);
			tid_decode(out, NULL, &first_clock);
		} else {
			if (strcmp(prev, out) >= 0)
				sorted = 0;
			tid_decode(out, NULL, &clock_id);
			if (clock_id != first_clock)
				same_clock = 0;
		}
		memcpy(prev, out, 14);
	}
	ok(sorted, "100000 tid_next calls strictly increase");
	ok(valid, "every generated TID passes syntax_tid_ok");
	ok(same_clock, "one clock id per process");
	tid_decode(first, &micros, NULL);
	ok(micros >= before && micros < before + 5000000ULL, "the first TID carries the current time");

	/* Four threads at once: each sees increasing TIDs, and no two TIDs are equal. */
	char(*all)[14] = calloc(THREADS * PER_THREAD, 14);
	worker w[THREADS];
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++) {
		w[i].tids = all + i * PER_THREAD;
		pthread_create(&th[i], NULL, generate, &w[i]);
	}
	int all_sorted = 1;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		all_sorted &= w[i].sorted;
	}
	ok(all_sorted, "each of %d threads sees strictly increasing TIDs", THREADS);
	qsort(all, THREADS * PER_THREAD, 14, cmp_tid);
	int distinct = 1, all_valid = 1;
	for (int i = 0; i < THREADS * PER_THREAD; i++) {
		if (i > 0 && strcmp(all[i - 1], all[i]) == 0)
			distinct = 0;
		if (!syntax_tid_ok(all[i]))
			all_valid = 0;
	}
	ok(distinct, "all %d TIDs from %d threads are distinct", THREADS * PER_THREAD, THREADS);
	ok(all_valid, "all threaded TIDs pass syntax_tid_ok");
	ok(strcmp(all[0], prev) > 0, "threaded TIDs come after the earlier ones");
	free(all);
	return tap_done();
}
