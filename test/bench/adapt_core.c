/*
 * adapt_core.c - core adaptation speed on the reference shape, and the data
 * the Python baselines (adapt_core.py) run on.
 *
 *   adapt_core DIR [MEMBERS] [REPEATS]
 *
 * Writes DIR/params.f32 (the flat parameter vector), DIR/member.f32
 * [MEMBERS][member_dim], DIR/items.f32 [MEMBERS][rows][item_dim],
 * DIR/labels.f32 [MEMBERS][rows], DIR/emb.f32 [MEMBERS][d] (the C
 * embeddings) and DIR/shape.txt; prints "core_us_per_member X".
 *
 * Reference shape: 50 support rows, item_dim 32, embedding 32, global
 * hidden 64, 5 inner steps; member_dim 8 with a meta hidden layer of 32.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arch.h"
#include "block.h"
#include "maml.h"

#define MEMBER_DIM 8
#define ITEM_DIM 32
#define EMB_DIM 32
#define ROWS 50
#define STEPS 5
#define LR 0.5

static unsigned long long rng_state = 20240601ULL;

static double
uniform(void *state)
{
	unsigned long long z = (rng_state += 0x9e3779b97f4a7c15ULL);

	(void) state;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return (double) (z >> 11) * 0x1.0p-53;
}

static void
write_file(const char *dir, const char *name, const void *data, size_t bytes)
{
	char		path[4096];
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(data, 1, bytes, f) != bytes)
	{
		perror(path);
		exit(1);
	}
	fclose(f);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int
main(int argc, char **argv)
{
	static const int meta_hidden[1] = {32};
	static const int global_hidden[1] = {64};
	const char *dir = argc > 1 ? argv[1] : ".";
	int			members = argc > 2 ? atoi(argv[2]) : 2000;
	int			repeats = argc > 3 ? atoi(argv[3]) : 5;
	LmArch		arch;
	const char *err = lm_arch_init(&arch, MEMBER_DIM, ITEM_DIM, EMB_DIM, meta_hidden, 1,
								   global_hidden, 1, LM_LOSS_BCE);
	float	   *params,
			   *member,
			   *items,
			   *labels,
			   *emb;
	LmWork	   *work;
	double		best = 1e30;
	char		shape[512];

	if (err)
	{
		fprintf(stderr, "arch: %s\n", err);
		return 1;
	}
	params = lm_alloc_reals(arch.n_params);
	lm_arch_init_params(&arch, params, uniform, NULL);
	member = malloc(sizeof(float) * members * MEMBER_DIM);
	items = malloc(sizeof(float) * (size_t) members * ROWS * ITEM_DIM);
	labels = malloc(sizeof(float) * (size_t) members * ROWS);
	emb = malloc(sizeof(float) * (size_t) members * EMB_DIM);
	for (size_t i = 0; i < (size_t) members * MEMBER_DIM; i++)
		member[i] = (float) (uniform(NULL) * 2 - 1);
	for (size_t i = 0; i < (size_t) members * ROWS * ITEM_DIM; i++)
		items[i] = (float) (uniform(NULL) * 2 - 1);
	for (size_t i = 0; i < (size_t) members * ROWS; i++)
		labels[i] = uniform(NULL) < 0.3 ? 1.0f : 0.0f;

	work = lm_work_create(&arch, ROWS);
	for (int rep = 0; rep < repeats; rep++)
	{
		double		t0 = now(),
					t;

		for (int m = 0; m < members; m++)
		{
			LmRows		rows = {ROWS, items + (size_t) m * ROWS * ITEM_DIM, labels + (size_t) m * ROWS};

			lm_adapt_embedding(&arch, params, member + (size_t) m * MEMBER_DIM, &rows,
							   STEPS, LR, emb + (size_t) m * EMB_DIM, work);
		}
		t = (now() - t0) / members * 1e6;
		if (t < best)
			best = t;
	}

	write_file(dir, "params.f32", params, sizeof(float) * arch.n_params);
	write_file(dir, "member.f32", member, sizeof(float) * members * MEMBER_DIM);
	write_file(dir, "items.f32", items, sizeof(float) * (size_t) members * ROWS * ITEM_DIM);
	write_file(dir, "labels.f32", labels, sizeof(float) * (size_t) members * ROWS);
	write_file(dir, "emb.f32", emb, sizeof(float) * (size_t) members * EMB_DIM);
	snprintf(shape, sizeof(shape),
			 "members %d\nrows %d\nmember_dim %d\nitem_dim %d\nembedding_dim %d\n"
			 "meta_hidden 32\nglobal_hidden 64\nsteps %d\nlr %g\n",
			 members, ROWS, MEMBER_DIM, ITEM_DIM, EMB_DIM, STEPS, LR);
	write_file(dir, "shape.txt", shape, strlen(shape));
	printf("core_us_per_member %.3f\n", best);
	lm_work_free(work);
	return 0;
}
