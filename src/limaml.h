/*
 * limaml.h - shared declarations of the SQL-facing glue.
 *
 * The numeric core (src/core) knows nothing of PostgreSQL; these files turn
 * SQL values into its buffers and back, one file per capability:
 *   limaml.c        module init, GUCs, input checks
 *   source.c        accepted column types of source, members and items
 *   transform.c     declared feature transforms: fitting, storing, reading SQL
 *   model_json.c    a model's configuration and parameters as jsonb
 *   ownership.c     model owners, limaml_grant, reading as the owner
 *   catalog.c       models, versions, the per-backend model cache
 *   identity.c      versions by the identity embeddings carry (UUID, hash)
 *   export_import.c limaml_model_export and limaml_model_import
 *   versions.c      limaml_drop_version
 *   alter.c         limaml_alter_model
 *   embedding.c     the meta-embedding bytea format
 *   tasks.c         a source's rows as MAML tasks (tasks.h)
 *   quality.c       cold against adapted metrics (quality.h)
 *   training.c      limaml_train
 *   evaluate.c      limaml_evaluate
 *   adapt_rows.c    the inner loop over one member's rows (adapt.h)
 *   adapt.c         limaml_adapt, limaml_cold_embedding
 *   adapt_agg.c     limaml_adapt_agg
 *   serving.c       serving plans and item inputs (serving.h)
 *   item_code.c     the item-code bytea format, limaml_item_encode
 *   features.c      limaml_member_features, limaml_item_features
 *   score.c         limaml_score
 *   rank.c          limaml_top_k, limaml_recommend
 * A file calls only files above it in this list, so no two call each other.
 */
#ifndef LIMAML_H
#define LIMAML_H

#include "postgres.h"

#include "core/arch.h"
#include "core/formats.h"
#include "core/model_reader.h"
#include "core/transform.h"
#include "executor/spi.h"
#include "nodes/pg_list.h"
#include "utils/array.h"
#include "utils/jsonb.h"
#include "utils/snapshot.h"

/* a model's item relation, sorted by item_id, for negative sampling */
typedef struct LmNegatives
{
	int			n;				/* negatives per positive row */
	int64		seed;
	int			n_items;
	const int64 *item_ids;		/* [n_items] ascending */
	const float *features;		/* [n_items][item_feature_dim] */
} LmNegatives;

#define LM_MAX_NEGATIVE_ITEMS 100000000

/* a side's declared transforms (transform.c): a feature vector of dim */
typedef struct LmTransformSet
{
	int			n;
	LmTransform *t;				/* [n], in the vector's order */
	int			dim;			/* the sum of their widths */
} LmTransformSet;

/* a model's transforms; NULL on a model without any */
typedef struct LmTransforms
{
	LmTransformSet member;		/* n 0: the source's member_features */
	LmTransformSet item;		/* n 0: the source's item_features */
	char	   *json;			/* canonical form, as stored in the config */
} LmTransforms;

#define LM_CONTENT_HASH_LEN 32	/* SHA-256 */

/* one immutable model version, as cached by a backend */
typedef struct LmModel
{
	int32		model_id;
	int32		version;
	char	   *name;
	Oid			source;			/* InvalidOid when imported without one */
	Oid			members;		/* optional member relation */
	Oid			items;			/* optional item relation (negative sampling) */
	Oid			owner;			/* InvalidOid in a catalog from before 0.3.0 */

	/*
	 * The identity embeddings and item codes carry: the model's UUID and the
	 * version's content hash (lm_content_hash).  In a catalog from before
	 * 0.3.0 (has_identity false) the UUID holds the model id as format 1
	 * does (core/formats.h) and the hash is zero.
	 */
	bool		has_identity;
	uint8		uuid[LM_UUID_LEN];
	uint8		content_hash[LM_CONTENT_HASH_LEN];
	LmArch		arch;
	LmConfig	config;
	float	   *params;			/* [arch.n_params] */
	LmNegatives *negatives;		/* loaded on first use by lm_model_negatives */
	const LmTransforms *transforms; /* NULL: features arrive as arrays */
	/* cache bookkeeping, owned by catalog.c */
	MemoryContext mcxt;
	int			pins;
	bool		dead;
} LmModel;

/* limaml.c: GUCs and input checks */
extern char *limaml_default_model;
extern int	limaml_max_model_size;	/* MB of parameters a model may hold */

extern int	limaml_max_work_mem;	/* MB of working memory one call may take */

void		lm_check_model_size(const LmArch *arch, const char *name);
size_t		lm_work_mem_bytes(void);
void		lm_lock_model_name(const char *name);
void		lm_lock_model_id(int32 model_id, bool exclusive);
void		lm_check_work_mem(double bytes, const char *what, const char *hint);

float	   *lm_array_floats(ArrayType *array, const char *what, int expected_dim, int *dim);
void		lm_check_label(float label, LmLoss loss);
void		lm_check_range(const char *what, double value, double lo, double hi);
double		lm_getarg_real(FunctionCallInfo fcinfo, int argno);
Oid			lm_catalog_relid(const char *table);
const char *lm_schema_quoted(void);

/* the loss a 'bce' or 'mse' argument names; 22023 with a hint otherwise */
LmLoss		lm_loss_arg(text *name);

/*
 * SPI_connect/SPI_finish with search_path pinned to pg_catalog, pg_temp in
 * between: the SQL limaml builds names its own objects by schema, and no
 * function or operator a role planted earlier on the caller's path runs
 * inside it.  Pairs nest; an error unwinds them with the transaction.
 */
void		lm_spi_connect(void);
void		lm_spi_finish(void);

/*
 * The array lengths of col1 and col2 (NULL: col1 only) in a relation's first
 * row with col2 (or col1) not NULL; -1 when there is no such row.
 */
void		lm_first_lengths(Oid relid, const char *col1, const char *col2, int *len1, int *len2);
const char *lm_relation_sql(Oid relid);
const char *lm_row_order_sql(bool item_ids, bool descending);

/* source.c: the relations limaml reads, their accepted column types */
typedef enum LmRelationRole
{
	LM_SOURCE,					/* (member_id, member_features, item_features, label, ts[, item_id]) */
	LM_MEMBERS,					/* (member_id, member_features) */
	LM_ITEMS					/* (item_id, features) */
} LmRelationRole;

/* a missing or mistyped column */
typedef struct LmColumnProblem
{
	const char *column;
	bool		missing;
	char	   *detail;			/* a sentence: its type and the accepted ones */
} LmColumnProblem;

/* a relation's columns as SQL expressions of limaml's own types */
typedef struct LmSourceSql
{
	const char *member_id;		/* bigint */
	const char *member_features;	/* real[] */
	const char *item_features;	/* real[] */
	const char *label;			/* real */
	const char *ts;				/* timestamptz */
	const char *item_id;		/* bigint; NULL when the relation has none */
	const char *features;		/* real[] (an item relation's) */
	Oid			member_id_type; /* the member_id column's own (base) type */
} LmSourceSql;

List	   *lm_relation_problems(Oid relid, LmRelationRole role, bool item_id);
void		lm_check_source(Oid source, Oid members);
void		lm_check_item_id(Oid source);
void		lm_check_members_relation(Oid members);
void		lm_check_items_relation(Oid items);
void		lm_check_items_columns(Oid items, const char *id_column, const char *features_column);
void		lm_check_exclude_relation(Oid exclude, bool item_only);
const char *lm_id_column_sql(Oid relid, const char *name);
const char *lm_features_column_sql(Oid relid, const char *name);
bool		lm_has_item_id(Oid source);
void		lm_source_sql(Oid relid, LmSourceSql *sql);
bool		lm_member_id_param(Oid type, int64 member_id, Datum *param);
void		lm_check_source_columns(Oid source, Oid members, bool member_arrays, bool item_arrays);
void		lm_check_relation_ids(Oid relid, LmRelationRole role);

/* transform.c: declared feature transforms (core/transform.h applies them) */
LmTransforms *lm_transforms_declare(Jsonb *member_columns, Oid members, Jsonb *item_columns,
									Oid items);
LmTransforms *lm_transforms_from_config(Jsonb *config);
LmTransforms *lm_transforms_from_container(JsonbContainer *config);
char	   *lm_config_with_transforms(const char *config_json, const LmTransforms *tf);
bool		lm_transforms_equal(const LmTransforms *a, const LmTransforms *b);
void		lm_transforms_check(const LmTransforms *tf, Oid source, Oid members, Oid items);
void		lm_transforms_check_relation(const LmTransformSet *set, Oid relid, const char *what);
void		lm_check_items_for(const LmTransforms *tf, Oid items);
const char *lm_model_relation_sql(const LmModel *model, Oid relid, LmRelationRole role);
void		lm_model_check_source(const LmModel *model, Oid source);
void		lm_check_members_for(const LmTransforms *tf, Oid members);
const char *lm_transformed_relation_sql(const char *model_name, const LmTransforms *tf, Oid relid,
										LmRelationRole role, Oid members, Oid items);
void		lm_transform_datum(const LmTransform *t, Oid type, Datum value, bool isnull, float *out);
bool		lm_transform_type_ok(LmTransformKind kind, Oid type);

/* ownership.c */
bool		lm_catalog_has_owner(void);
bool		lm_check_model_owner(const char *name, const char *action, bool missing_ok,
								 int32 *model_id);
Oid			lm_model_reader(const LmModel *model);
Oid			lm_catalog_owner(void);
void		lm_run_as(Oid role, void (*fn) (void *), void *arg);
void		lm_execute_plan_as(Oid role, SPIPlanPtr plan, Datum *args, const char *nulls,
							   bool read_only, long count);
Portal		lm_cursor_open_as(Oid role, SPIPlanPtr plan, Datum *args, bool read_only);
void		lm_cursor_fetch_as(Oid role, Portal portal, long count);

/* catalog.c */
LmModel    *lm_model_acquire(int32 model_id, int32 version, MemoryContext holder);
bool		lm_catalog_has_identity(void);
/* the latest committed catalog (the leader's snapshot in a parallel worker) */
Snapshot	lm_catalog_snapshot(void);
LmModel    *lm_model_acquire_identity(const uint8 *uuid, int32 version, const uint8 *hash_prefix,
									   const char *what, MemoryContext holder);
bool		lm_model_is(const LmModel *model, const uint8 *uuid, int32 version);
int32		lm_model_id_by_identity(const uint8 *uuid, int32 version, uint8 *content_hash,
									char **name, bool as_catalog_owner);
char	   *lm_uuid_string(const uint8 *uuid);
bytea	   *lm_hash_prefix_bytea(const uint8 *hash);
LmModel    *lm_model_acquire_by_name(text *name, MemoryContext holder);
text	   *lm_model_name_by_uuid(Datum uuid);

/* citus.c */
Oid			lm_citus_local_shard(Oid relid, int64 member_id);
uint64		lm_snapshot_stamp(void);
bool		lm_model_usable(const LmModel *model, uint64 stamp);
void		lm_model_resolve(text *name, int32 *model_id, int32 *version);
void		lm_model_resolve_version(text *name, bool has_version, int32 requested,
									 int32 *model_id, int32 *version);
int32		lm_insert_model(const char *name, Oid source, Oid members, Oid items,
							const char *config_json, const uint8 *uuid);
const LmNegatives *lm_model_negatives(const LmModel *model);
int			lm_negative_rows(const LmNegatives *neg, const LmArch *arch, int64 item_id, int64 ts,
							 float *items, float *labels, int32 *buckets, int64 *item_ids);
int32		lm_store_version(int32 model_id, const float *params, size_t n_params,
							 const char *train_json, bool activate);
int32		lm_store_version_as(int32 model_id, int32 version, const float *params, size_t n_params,
								const char *train_json, bool activate);

/* model_json.c: the jsonb forms, with no catalog access */
const char *lm_config_problem(const LmConfig *cfg);
const char *lm_loss_name(LmLoss loss);
void		lm_config_from_jsonb(Jsonb *config, LmArch *arch, LmConfig *cfg);
char	   *lm_config_to_json(const LmArch *arch, const LmConfig *cfg);
/* a whole version (format, config, identity, parameters); the parameters are palloc'd */
float	   *lm_model_from_jsonb(Jsonb *json, const char *name, LmArch *arch, LmConfig *cfg,
								LmModelIdentity *id);
char	   *lm_model_to_json(const LmModel *model);
/* SHA-256 of a version's configuration (with its transforms) and parameters (docs/formats.md) */
void		lm_content_hash(const LmArch *arch, const LmConfig *cfg, const LmTransforms *tf,
							const float *params, uint8 *hash);


/* embedding.c: the meta-embedding bytea (core/formats.h) */
bytea	   *lm_embedding_encode(const LmModel *model, const float *emb, int n_support);
const char *lm_embedding_read(bytea *raw, LmEmbeddingHeader *header);
LmModel    *lm_embedding_model(const LmEmbeddingHeader *header, MemoryContext holder);
void		lm_check_identity_format(int format, const char *what, const char *hint);

#endif
