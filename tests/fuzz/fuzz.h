/*
 * fuzz - what every fuzz target shares: the libFuzzer entry point and the
 * invariant check.
 *
 * Each tests/fuzz/fuzz_<name>.c defines LLVMFuzzerTestOneInput().  Built
 * with -DGW_FUZZ=ON under clang it links libFuzzer; in the normal build it
 * links replay_main.c, which feeds it the files of the seed corpus.  A
 * broken invariant prints what was expected and aborts, which both drivers
 * (and ASan's signal handler) report as a crash with a stack.
 */
#ifndef GW_FUZZ_H
#define GW_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* LLVMFuzzerTestOneInput - run one input; must return 0 */
int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* FUZZ_CHECK - abort with the condition and a message when it is false */
#define FUZZ_CHECK(cond, ...) do {					\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: invariant failed: %s: ",	\
		    __FILE__, __LINE__, #cond);				\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
		abort();						\
	}								\
} while (0)

/* rng_next - xorshift32 for fuzzers that derive choices from their input;
 * a zero state would stick at zero, so it starts from a constant instead */
static inline uint32_t
rng_next(uint32_t *s)
{
	uint32_t	x = *s ? *s : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

#endif
