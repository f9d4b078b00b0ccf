-- search_path safety: functions planted in public with more specific signatures than
-- pg_catalog's never run inside limaml's SQL and plpgsql code (limaml_refresh)
SET client_min_messages = warning;

\set n_members 30
\set n_items 16
\set n_genres 4
\set per_member 12
\set p_fav 0.9
\set p_other 0.1
\set seed 0.2
\set ECHO none
\o /dev/null
\ir test/data/planted.sql
\o
\set ECHO all

SELECT limaml_create_model('sp', 'planted_interactions', embedding_dim => 4, seed => 1) > 0 AS created;
SELECT count(*) FROM limaml_train('sp', epochs => 1);

-- a trap for every function limaml_refresh calls, each more specific than pg_catalog's
CREATE TABLE public.sp_hijacked (fn text);
CREATE FUNCTION public.cardinality(bigint[]) RETURNS int LANGUAGE sql
	AS $$ INSERT INTO public.sp_hijacked VALUES ('cardinality') RETURNING 0 $$;
CREATE FUNCTION public.unnest(bigint[]) RETURNS SETOF bigint LANGUAGE sql
	AS $$ INSERT INTO public.sp_hijacked VALUES ('unnest') RETURNING 0::bigint $$;
CREATE FUNCTION public.format(text, regclass) RETURNS text LANGUAGE sql
	AS $$ INSERT INTO public.sp_hijacked VALUES ('format') RETURNING 'SELECT 1' $$;
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql
	AS $$ INSERT INTO public.sp_hijacked VALUES ('now') RETURNING pg_catalog.now() $$;
CREATE FUNCTION public.clock_timestamp() RETURNS timestamptz LANGUAGE sql
	AS $$ INSERT INTO public.sp_hijacked VALUES ('clock_timestamp') RETURNING pg_catalog.clock_timestamp() $$;
CREATE FUNCTION public.sp_trap_sfunc(bigint[], bigint) RETURNS bigint[] LANGUAGE sql
	AS $$ INSERT INTO public.sp_hijacked VALUES ('array_agg') RETURNING $1 $$;
CREATE AGGREGATE public.array_agg(bigint) (sfunc = public.sp_trap_sfunc, stype = bigint[], initcond = '{}');
SET search_path = public, pg_catalog;

CALL limaml_refresh('sp');
CALL limaml_refresh('sp');
SELECT coalesce(string_agg(DISTINCT fn, ', '), 'none') AS hijacked FROM public.sp_hijacked;
SELECT count(*) AS fresh_embeddings FROM limaml_meta_embedding WHERE model = 'sp';

RESET search_path;
-- the refresh history is user data that pg_dump keeps
SELECT 'limaml_refresh_progress'::regclass::oid = ANY (extconfig) AS progress_dumped
  FROM pg_extension WHERE extname = 'limaml';
DROP AGGREGATE public.array_agg(bigint);
DROP FUNCTION public.sp_trap_sfunc(bigint[], bigint), public.cardinality(bigint[]), public.unnest(bigint[]),
	public.format(text, regclass), public.now(), public.clock_timestamp();

-- operators with the very signatures of pg_catalog's, in a schema first on the path: none of
-- limaml's SQL (C functions' queries, limaml_refresh) may resolve to them
CREATE FUNCTION public.sp_eq_text(text, text) RETURNS boolean LANGUAGE sql
	AS $$ INSERT INTO public.sp_hijacked VALUES ('=(text, text)'); SELECT $1 OPERATOR(pg_catalog.=) $2 $$;
CREATE FUNCTION public.sp_eq_int4(int, int) RETURNS boolean LANGUAGE sql
	AS $$ INSERT INTO public.sp_hijacked VALUES ('=(int, int)'); SELECT $1 OPERATOR(pg_catalog.=) $2 $$;
CREATE FUNCTION public.sp_eq_int8(bigint, bigint) RETURNS boolean LANGUAGE sql
	AS $$ INSERT INTO public.sp_hijacked VALUES ('=(bigint, bigint)'); SELECT $1 OPERATOR(pg_catalog.=) $2 $$;
CREATE FUNCTION public.sp_lt_int4(int, int) RETURNS boolean LANGUAGE sql
	AS $$ INSERT INTO public.sp_hijacked VALUES ('<(int, int)'); SELECT $1 OPERATOR(pg_catalog.<) $2 $$;
CREATE FUNCTION public.sp_plus_int8(bigint, bigint) RETURNS bigint LANGUAGE sql
	AS $$ INSERT INTO public.sp_hijacked VALUES ('+(bigint, bigint)'); SELECT $1 OPERATOR(pg_catalog.+) $2 $$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.sp_eq_text);
CREATE OPERATOR public.= (LEFTARG = int, RIGHTARG = int, FUNCTION = public.sp_eq_int4);
CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.sp_eq_int8);
CREATE OPERATOR public.< (LEFTARG = int, RIGHTARG = int, FUNCTION = public.sp_lt_int4);
CREATE OPERATOR public.+ (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.sp_plus_int8);
TRUNCATE public.sp_hijacked;
SET search_path = public, pg_catalog;
SELECT limaml_create_model('sp_op', 'planted_interactions', embedding_dim => 4, seed => 2) IS NOT NULL AS created;
SELECT count(*) FROM limaml_train('sp_op', epochs => 1);
SELECT limaml_adapt(3, 'sp_op') IS NOT NULL AS adapted;
SELECT count(*) FROM (SELECT limaml_adapt_agg('sp_op', member_features, item_features, label, ts)
                        FROM planted_interactions GROUP BY member_id) a;
SELECT limaml_score(limaml_adapt(3, 'sp_op'), '{1,0,0,0}') IS NOT NULL AS scored;
SELECT count(*) FROM limaml_evaluate('sp_op', 'planted_interactions');
SELECT limaml_model_import('sp_op_copy', limaml_model_export('sp_op')) IS NOT NULL AS imported;
SELECT count(*) FROM limaml_check_source('planted_interactions');
CALL limaml_refresh('sp_op');
SELECT count(*) FROM limaml_top_k('sp_op', 'planted_items', 3);
SELECT limaml_drop_model('sp_op_copy');
SELECT limaml_drop_model('sp_op');
SELECT coalesce(string_agg(DISTINCT fn, ', '), 'none') AS hijacked FROM public.sp_hijacked;
RESET search_path;
DROP OPERATOR public.= (text, text), public.= (int, int), public.= (bigint, bigint), public.< (int, int),
	public.+ (bigint, bigint);
DROP FUNCTION public.sp_eq_text(text, text), public.sp_eq_int4(int, int), public.sp_eq_int8(bigint, bigint),
	public.sp_lt_int4(int, int), public.sp_plus_int8(bigint, bigint);
DROP TABLE public.sp_hijacked;
SELECT limaml_drop_model('sp');
DROP TABLE planted_interactions, planted_members, planted_items;
