
# limaml: the per-backend model cache seen from several sessions.
#
# Session A ($sa) is long-lived and keeps parsed model versions in its
# cache; "session B" is whatever other backend changes the catalog
# (safe_psql calls, each a fresh backend, which also serve as the "fresh
# session" reference for scores; $sb where B must be long-lived).
#
#  1.  a model dropped (and re-imported / re-created) by B
#  1b. a version A loads under a snapshot older than B's drop
#  1c. a drop A processes in the middle of a scoring query (pinning)
#  2.  a new version trained by B while A holds the old one
#  3.  the extension dropped and re-created by B

use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LimamlTest;

my $node = new_limaml_node('sessions');
planted_data($node);

# scores of the first 16 items for every embedding of a relation (or
# subquery) with columns member_id, embedding
sub score_sql
{
	my ($from) = @_;
	return qq{SELECT string_agg(limaml_score(e.embedding, i.features)::text, ','
	                            ORDER BY e.member_id, i.item_id)
	            FROM $from e CROSS JOIN planted_items i WHERE i.item_id <= 16};
}

sub create_model_sql
{
	my ($name, $seed) = @_;
	return qq{SELECT limaml_create_model('$name', 'planted_interactions',
	            embedding_dim => 8, meta_hidden => '{16}', global_hidden => '{16}',
	            support_size => 20, query_size => 5, seed => $seed,
	            members => 'planted_members')};
}

sub adapt_sql
{
	my ($name) = @_;
	return qq{SELECT count(limaml_adapt(member_id, '$name'))
	            FROM planted_members WHERE member_id <= 5};
}

my $sa = session($node);

# -------------------------------------------------------------------------
# 1. a model dropped by another session: A fails clearly, never stale
# -------------------------------------------------------------------------
$node->safe_psql('postgres', create_model_sql('m', 7));
is($node->safe_psql('postgres', adapt_sql('m')), '5', 'B adapts 5 members of m');

sq_ok($sa, q{CREATE TEMP TABLE saved AS
              SELECT member_id, embedding FROM limaml_meta_embedding WHERE model = 'm'});
my $scores_m = sq_ok($sa, score_sql('saved'));
is(scalar(split /,/, $scores_m), 80, 'A scores 5 members x 16 items of m');
is($scores_m, $node->safe_psql('postgres', score_sql(
	q{(SELECT member_id, embedding FROM limaml_meta_embedding WHERE model = 'm')})),
	'A and a fresh session score m alike');

# the same embedding as a literal: no relation in the query, so only the
# transaction start can deliver the invalidation
my $hex = sq_ok($sa, q{SELECT encode(embedding, 'hex') FROM saved WHERE member_id = 1});
my $feat = sq_ok($sa, q{SELECT features::text FROM planted_items WHERE item_id = 1});
my $literal_sql = qq{SELECT limaml_score('\\x$hex'::bytea, '$feat'::real[])};
my $literal_score = sq_ok($sa, $literal_sql);
ok($literal_score =~ /^[-+.0-9e]+$/ && $literal_score >= 0 && $literal_score <= 1,
	"A scores a literal embedding: a probability ($literal_score)");

$node->safe_psql('postgres',
	q{CREATE TABLE exported AS SELECT limaml_model_export('m') AS model});
$node->safe_psql('postgres', q{SELECT limaml_drop_model('m')});
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM limaml_model_version v JOIN limaml_model m USING (model_id)
		   WHERE m.name = 'm'}), '0', 'B dropped m with its versions');

my ($out, $err) = sq($sa, score_sql('saved'));
like($err, qr/ERROR:  42704: limaml model version 0 of model [0-9a-f-]{36} is not on this node/,
	'A: scoring a dropped model\'s embedding fails with 42704 "does not exist"');
is($out, '', 'A: no stale scores returned after the drop');

($out, $err) = sq($sa, $literal_sql);
like($err, qr/ERROR:  42704: limaml model version 0 of model [0-9a-f-]{36} is not on this node/,
	'A: a literal embedding of the dropped model fails with 42704 too');
is($out, '', 'A: no stale score for the literal embedding');

$err = sq_err($sa, q{SELECT limaml_embedding_info(embedding) FROM saved WHERE member_id = 1});
like($err, qr/ERROR:  42704: .*is not on this node/,
	'A: limaml_embedding_info of a dropped model\'s embedding fails with 42704');
is(sq_ok($sa, 'SELECT 1'), '1', 'A is healthy after the errors');

# B brings the model back from its export: a new model id, the same identity
# (UUID, version, content hash) and parameters
$node->safe_psql('postgres', q{SELECT limaml_model_import('m', model,
	'planted_interactions', 'planted_members') FROM exported});
is($node->safe_psql('postgres', adapt_sql('m')), '5', 'B adapts again after the import');
my $new_id = $node->safe_psql('postgres', q{SELECT model_id FROM limaml_model WHERE name = 'm'});
my $new_scores = sq_ok($sa, score_sql(
	q{(SELECT member_id, embedding FROM limaml_meta_embedding WHERE model = 'm')}));
is($new_scores, $node->safe_psql('postgres', score_sql(
	q{(SELECT member_id, embedding FROM limaml_meta_embedding WHERE model = 'm')})),
	'A scores the re-imported model\'s embeddings like a fresh session');
is($new_scores, $scores_m,
	'same parameters and data: A\'s scores equal those before the drop');
is(sq_ok($sa, q{SELECT string_agg(DISTINCT (limaml_embedding_info(embedding)).model_id::text, ',')
                 FROM limaml_meta_embedding WHERE model = 'm'}),
	$new_id, 'A sees the new embeddings carry the new model id');
is(sq_ok($sa, score_sql('saved')), $scores_m,
	'A: the old embeddings score again after the re-import (the same identity), as before the drop');

# and a brand-new model created by B, this time with different parameters
$node->safe_psql('postgres', q{SELECT limaml_drop_model('m')});
$node->safe_psql('postgres', create_model_sql('m', 1234));
$node->safe_psql('postgres', adapt_sql('m'));
my $created_scores = sq_ok($sa, score_sql(
	q{(SELECT member_id, embedding FROM limaml_meta_embedding WHERE model = 'm')}));
is($created_scores, $node->safe_psql('postgres', score_sql(
	q{(SELECT member_id, embedding FROM limaml_meta_embedding WHERE model = 'm')})),
	'A scores a re-created model like a fresh session');
isnt($created_scores, $scores_m, 'the re-created model (another seed) scores differently');

# -------------------------------------------------------------------------
# 1b. a version loaded under a snapshot older than its drop
# -------------------------------------------------------------------------
# A's repeatable-read snapshot still sees the version after B dropped it,
# so A may (re)load it; but once A's transaction ends, the version is gone
# and must not stay in A's cache.
$node->safe_psql('postgres', create_model_sql('r', 21));
$node->safe_psql('postgres', adapt_sql('r'));
sq_ok($sa, q{CREATE TEMP TABLE saved_r AS
              SELECT member_id, embedding FROM limaml_meta_embedding WHERE model = 'r'});
my $r_scores = sq_ok($sa, score_sql('saved_r'));
sq_ok($sa, 'BEGIN ISOLATION LEVEL REPEATABLE READ');
is(sq_ok($sa, q{SELECT count(*) FROM limaml_model WHERE name = 'r'}), '1',
	'A\'s repeatable-read snapshot sees model r');
$node->safe_psql('postgres', q{SELECT limaml_drop_model('r')});
($out, $err) = sq($sa, score_sql('saved_r'));
ok(($err eq '' && $out eq $r_scores) || $err =~ /ERROR:  42704: /,
	'inside the old snapshot A gives the pre-drop scores or 42704, nothing else');
sq_ok($sa, 'COMMIT');
($out, $err) = sq($sa, score_sql('saved_r'));
like($err, qr/ERROR:  42704: limaml model version 0 of model [0-9a-f-]{36} is not on this node/,
	'after that transaction, A\'s scoring of the dropped model fails with 42704');
is($out, '', 'after that transaction, A returns no stale scores');

# -------------------------------------------------------------------------
# 1c. a drop processed by A in the middle of a scoring query
# -------------------------------------------------------------------------
# The query pins its versions: the flush must neither free them under the
# query (crash, garbage) nor leak them afterwards.
$node->safe_psql('postgres', create_model_sql('p', 22));
$node->safe_psql('postgres', adapt_sql('p'));
$node->safe_psql('postgres', q{
	CREATE TABLE hook_probe (x int);
	CREATE FUNCTION mid_query_hook() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
	BEGIN
		IF current_setting('limaml_test.fired', true) IS DISTINCT FROM 'yes' THEN
			PERFORM set_config('limaml_test.fired', 'yes', true);
			-- wait for B's drop, then lock a new relation: invalidations arrive
			PERFORM pg_advisory_lock_shared(42);
			PERFORM pg_advisory_unlock_shared(42);
			EXECUTE 'SELECT count(*) FROM hook_probe';
		END IF;
		RETURN '';
	END $$});
sq_ok($sa, q{CREATE TEMP TABLE saved_p AS
              SELECT member_id, embedding FROM limaml_meta_embedding WHERE model = 'p'});
my $p_scores = sq_ok($sa, score_sql('saved_p'));
my $sb = session($node);
sq_ok($sb, 'SELECT pg_advisory_lock(42)');
start_async($sa, qq{SELECT string_agg(limaml_score(e.embedding, i.features)::text || mid_query_hook(), ','
	                            ORDER BY e.member_id, i.item_id)
	            FROM saved_p e CROSS JOIN planted_items i WHERE i.item_id <= 16});
ok(wait_for_lock_wait($node, '%mid_query_hook%'), 'A\'s scoring query waits in mid-query');
sq_ok($sb, q{SELECT limaml_drop_model('p')});
sq_ok($sb, 'SELECT pg_advisory_unlock(42)');
($out, $err) = wait_async($sa);
is($err, '', 'the scoring query that saw the drop mid-way completes without error');
is($out, $p_scores, 'it returns exactly the scores of its snapshot (the pinned version)');
($out, $err) = sq($sa, score_sql('saved_p'));
like($err, qr/ERROR:  42704: limaml model version 0 of model [0-9a-f-]{36} is not on this node/,
	'the next query of A fails with 42704 for the dropped model');
is($out, '', 'the next query of A returns no stale scores');
# every cached version is released once an invalidation flushes the cache
sq_ok($sb, q{UPDATE limaml_model SET config = config WHERE false});
is(sq_ok($sa, q{SELECT count(*) FROM pg_backend_memory_contexts WHERE name = 'limaml model'}),
	'0', 'after a flush no model version memory remains in A (nothing leaked)');
$sb->quit;

# -------------------------------------------------------------------------
# 2. a new version appears while A holds the old one
# -------------------------------------------------------------------------
$node->safe_psql('postgres', create_model_sql('v', 3));
$node->safe_psql('postgres', q{SELECT count(*) FROM limaml_train('v', epochs => 2)});
$node->safe_psql('postgres', adapt_sql('v'));
$node->safe_psql('postgres', q{CREATE TABLE saved_v1 AS
	SELECT member_id, embedding FROM limaml_meta_embedding WHERE model = 'v'});
is(sq_ok($sa, q{SELECT string_agg(DISTINCT (limaml_embedding_info(embedding)).version::text, ',')
                 FROM saved_v1}), '1', 'the saved embeddings are of version 1');
my $s1 = sq_ok($sa, score_sql('saved_v1'));
is(sq_ok($sa, q{SELECT (limaml_embedding_info(limaml_adapt(1, 'v'))).version}), '1',
	'A adapts with the active version 1');

$node->safe_psql('postgres', q{SELECT count(*) FROM limaml_train('v', epochs => 2)});
is($node->safe_psql('postgres', q{SELECT active_version FROM limaml_model WHERE name = 'v'}),
	'2', 'B trained version 2');
$node->safe_psql('postgres', adapt_sql('v'));

my $v2_from = q{(SELECT member_id, embedding FROM limaml_meta_embedding WHERE model = 'v')};
is(sq_ok($sa, q{SELECT string_agg(DISTINCT (limaml_embedding_info(embedding)).version::text, ',')
                 FROM limaml_meta_embedding WHERE model = 'v'}), '2',
	'A sees B\'s re-adapted embeddings of version 2');
my $s2 = sq_ok($sa, score_sql($v2_from));
is($s2, $node->safe_psql('postgres', score_sql($v2_from)),
	'A scores version-2 embeddings exactly like a fresh session');
isnt($s2, $s1, 'version 2 scores differ from version 1 scores');
is(sq_ok($sa, score_sql('saved_v1')), $s1,
	'A: version-1 embeddings still score as before (versions are immutable)');
is($node->safe_psql('postgres', score_sql('saved_v1')), $s1,
	'a fresh session scores version-1 embeddings like A did');
is(sq_ok($sa, q{SELECT (limaml_embedding_info(limaml_adapt(1, 'v'))).version}), '2',
	'A now adapts with the active version 2 (the active version is not cached)');

# a version deleted directly (not through limaml_drop_model) is forgotten too
$node->safe_psql('postgres', q{DELETE FROM limaml_model_version
	WHERE version = 1 AND model_id = (SELECT model_id FROM limaml_model WHERE name = 'v')});
like(sq_err($sa, score_sql('saved_v1')),
	qr/ERROR:  42704: limaml model version 1 of model [0-9a-f-]{36} is not on this node/,
	'A: an embedding of a deleted version fails with 42704');
is(sq_ok($sa, score_sql($v2_from)), $s2, 'A: version 2 is unaffected by deleting version 1');

# -------------------------------------------------------------------------
# 3. the extension dropped and re-created by another session
# -------------------------------------------------------------------------
# The catalog tables get new OIDs; invalidations of the new tables must
# still reach A's cache.
$node->safe_psql('postgres', q{DROP TABLE exported, saved_v1;
	DROP EXTENSION limaml; CREATE EXTENSION limaml});
$node->safe_psql('postgres', create_model_sql('m', 7));
$node->safe_psql('postgres', adapt_sql('m'));
my $m_from = q{(SELECT member_id, embedding FROM limaml_meta_embedding WHERE model = 'm')};
sq_ok($sa, q{CREATE TEMP TABLE saved2 AS
              SELECT member_id, embedding FROM limaml_meta_embedding WHERE model = 'm'});
my $scores_2 = sq_ok($sa, score_sql('saved2'));
is($scores_2, $node->safe_psql('postgres', score_sql($m_from)),
	'after re-creating the extension A scores like a fresh session');

$node->safe_psql('postgres', q{SELECT limaml_drop_model('m')});
($out, $err) = sq($sa, score_sql('saved2'));
like($err, qr/ERROR:  42704: limaml model version 0 of model [0-9a-f-]{36} is not on this node/,
	'after re-creating the extension, a drop by B still reaches A (42704)');
is($out, '', 'after re-creating the extension, A returns no stale scores');

# again, so that the new model reuses the model id A may have cached
$node->safe_psql('postgres', q{DROP EXTENSION limaml; CREATE EXTENSION limaml});
$node->safe_psql('postgres', create_model_sql('m', 99));
$node->safe_psql('postgres', adapt_sql('m'));
is($node->safe_psql('postgres', q{SELECT model_id FROM limaml_model WHERE name = 'm'}),
	'1', 'the model of the third extension instance reuses model id 1');
my $fresh_3 = $node->safe_psql('postgres', score_sql($m_from));
isnt($fresh_3, $scores_2, 'a fresh session: the seed-99 model scores differently');
is(sq_ok($sa, score_sql($m_from)), $fresh_3,
	'A scores the same (model id, version) of a new extension instance like a fresh session');

is(sq_ok($sa, 'SELECT 1'), '1', 'A is healthy at the end');
$sa->quit;
$node->stop;

done_testing();
