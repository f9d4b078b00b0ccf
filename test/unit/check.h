/*
 * check.h - minimal test harness for the core's unit tests.
 *
 * Every check prints "ok - name" or "not ok - name: detail (file:line)";
 * check_done() prints the binary's summary line "N passed, N failed" (the
 * Makefile sums these) and returns the exit status.
 *
 * Also a seeded splitmix64 RNG whose rng_uniform() has the signature
 * lm_arch_init_params wants.
 */
#ifndef LM_TEST_CHECK_H
#define LM_TEST_CHECK_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

static int	check_passed;
static int	check_failed;

static void
check_vreport(int ok, const char *file, int line, const char *detail,
			  const char *fmt, va_list ap)
{
	char		name[512];

	vsnprintf(name, sizeof(name), fmt, ap);
	if (ok)
	{
		check_passed++;
		printf("ok - %s\n", name);
	}
	else
	{
		check_failed++;
		printf("not ok - %s: %s (%s:%d)\n", name, detail, file, line);
	}
	fflush(stdout);
}

__attribute__((format(printf, 5, 6)))
static void
check_report(int ok, const char *file, int line, const char *detail, const char *fmt, ...)
{
	va_list		ap;

	va_start(ap, fmt);
	check_vreport(ok, file, line, detail, fmt, ap);
	va_end(ap);
}

/* |got - want| <= atol or <= rtol * max(|got|, |want|); NaN never passes */
static int
check_close(double got, double want, double rtol, double atol)
{
	double		diff = fabs(got - want);
	double		mag = fmax(fabs(got), fabs(want));

	if (isnan(got) || isnan(want))
		return 0;
	if (got == want)
		return 1;				/* also equal infinities */
	return diff <= atol || diff <= rtol * mag;
}

/* CHECK(cond, "name %d", ...) */
#define CHECK(cond, ...) \
	check_report(!!(cond), __FILE__, __LINE__, "failed: " #cond, __VA_ARGS__)

/* CHECK_CLOSE(got, want, rtol, atol, "name %d", ...) */
#define CHECK_CLOSE(got, want, rtol, atol, ...) \
	do { \
		double		got_ = (got), want_ = (want); \
		char		detail_[256]; \
		snprintf(detail_, sizeof(detail_), \
				 "got %.17g, want %.17g (abs err %.3g, rel err %.3g)", got_, want_, \
				 fabs(got_ - want_), \
				 fabs(got_ - want_) / fmax(fmax(fabs(got_), fabs(want_)), 1e-300)); \
		check_report(check_close(got_, want_, (rtol), (atol)), __FILE__, __LINE__, \
					 detail_, __VA_ARGS__); \
	} while (0)

/* prints the summary line; returns the process exit status */
static int
check_done(void)
{
	printf("%d passed, %d failed\n", check_passed, check_failed);
	return check_failed > 0;
}

/* ---------------------------------------------------------------- RNG */

typedef struct TestRng
{
	uint64_t	s;
} TestRng;

static inline uint64_t
rng_next(TestRng *rng)
{
	uint64_t	z = (rng->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* [0, 1), the callback lm_arch_init_params takes */
static inline double
rng_uniform(void *state)
{
	return (double) (rng_next((TestRng *) state) >> 11) * 0x1.0p-53;
}

static inline double
rng_range(TestRng *rng, double lo, double hi)
{
	return lo + (hi - lo) * rng_uniform(rng);
}

#endif
