
# limaml serving across sessions: ranking (arrays, item codes, limaml_top_k)
# in a long-lived session A while session B refreshes members, trains new
# versions and drops old ones.  A never returns a stale score: it scores with
# the version an embedding names, or fails with 42704 once that is gone.
#
#  1. A ranks saved embeddings while B trains and re-adapts every member
#  2. item codes follow versions: old codes refuse new embeddings, re-encoded
#     codes rank like the arrays
#  3. B deletes the old version: A's arrays, codes and limaml_top_k fail
#  4. limaml_top_k equals the LATERAL ranking inside one snapshot, while B
#     re-adapts members concurrently

use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LimamlTest;

my $node = new_limaml_node('serving');
planted_data($node, n_members => 120);

$node->safe_psql('postgres', q{
	SELECT limaml_create_model('sv', 'planted_interactions',
	    embedding_dim => 8, meta_hidden => '{16}', global_hidden => '{16}',
	    support_size => 20, query_size => 5, seed => 3, members => 'planted_members');
	SELECT count(*) FROM limaml_train('sv', epochs => 2, outer_lr => 0.01);
	SELECT count(limaml_adapt(member_id, 'sv')) FROM planted_members;
	CREATE TABLE codes AS SELECT item_id, limaml_item_encode('sv', features) AS code FROM planted_items;
	CREATE VIEW items AS SELECT item_id, features FROM planted_items});

# each member's top 5 as "member:item=score,..." from a relation of
# (member_id, embedding), with the features or with the item codes
sub top5_sql
{
	my ($from, $codes) = @_;
	my ($join, $arg) = $codes
	  ? ('codes i', 'i.code')
	  : ('planted_items i', 'i.features');
	return qq{SELECT string_agg(e.member_id || ':' || t.item_id || '=' || t.s, ','
	                            ORDER BY e.member_id, t.s DESC, t.item_id)
	            FROM $from e CROSS JOIN LATERAL
	                 (SELECT i.item_id, limaml_score(e.embedding, $arg) AS s FROM $join
	                   ORDER BY 2 DESC, 1 LIMIT 5) t};
}
my $live = q{(SELECT member_id, embedding FROM limaml_meta_embedding WHERE model = 'sv')};
my $top_k_sql = q{SELECT string_agg(member_id || ':' || item_id || '=' || score, ','
                                    ORDER BY member_id, rank)
                    FROM limaml_top_k('sv', 'items', 5)};

my $sa = session($node);
my $sb = session($node);

# -------------------------------------------------------------------------
# 1. A ranks saved embeddings while B refreshes
# -------------------------------------------------------------------------
sq_ok($sa, qq{CREATE TEMP TABLE saved AS SELECT * FROM $live l});
my $old = sq_ok($sa, top5_sql('saved'));
is(scalar(split /,/, $old), 600, 'A ranks 120 members x top 5');
is(sq_ok($sa, top5_sql('saved', 1)), $old, 'A: item codes rank exactly like the arrays');
is(sq_ok($sa, $top_k_sql), $old, 'A: limaml_top_k gives the LATERAL ranking');

start_async($sb, q{SELECT count(*) FROM limaml_train('sv', epochs => 2, outer_lr => 0.01);
	SELECT count(limaml_adapt(member_id, 'sv')) FROM planted_members});
my $same = 0;
my $rounds = 0;
for (1 .. 5)
{
	$rounds++;
	$same++ if sq_ok($sa, top5_sql('saved')) eq $old;
}
my ($out, $err) = wait_async($sb);
is($err, '', 'B trained a new version and re-adapted every member');
is($same, $rounds, "A's rankings of the saved embeddings never changed meanwhile ($rounds rounds)");
is(sq_ok($sa, top5_sql('saved')), $old, 'A: saved embeddings still score with their version afterwards');

my $new = sq_ok($sa, top5_sql($live));
isnt($new, $old, 'A: the refreshed embeddings rank differently');
is($new, $node->safe_psql('postgres', top5_sql($live)),
	'A ranks the refreshed embeddings like a fresh session');
is(sq_ok($sa, $top_k_sql), $new, 'A: limaml_top_k follows the refreshed embeddings');

# -------------------------------------------------------------------------
# 2. item codes follow versions
# -------------------------------------------------------------------------
like(sq_err($sa, top5_sql($live, 1)),
	qr/ERROR:  22000: item code of version 1 of model [0-9a-f-]{36} does not match the meta embedding's version 2 of model "sv"/,
	'A: codes of the old version refuse the new embeddings (22000)');
sq_ok($sb, q{CREATE TABLE codes_v2 AS
	SELECT item_id, limaml_item_encode('sv', features) AS code FROM planted_items});
sq_ok($sb, q{BEGIN; ALTER TABLE codes RENAME TO codes_v1; ALTER TABLE codes_v2 RENAME TO codes; COMMIT});
is(sq_ok($sa, top5_sql($live, 1)), $new, 'A: re-encoded codes rank exactly like the arrays');
sq_ok($sb, q{CREATE TABLE codes_again AS
	SELECT item_id, limaml_item_encode('sv', features, 1) AS code FROM planted_items});
is(sq_ok($sa, q{SELECT count(*) FILTER (WHERE codes_v1.code = codes_again.code) = count(*)
	              FROM codes_v1 JOIN codes_again USING (item_id)}),
	't', 'B encodes for the old version on request: the same codes as before');

# -------------------------------------------------------------------------
# 3. B deletes the old version
# -------------------------------------------------------------------------
sq_ok($sb, q{DELETE FROM limaml_model_version
	WHERE model_id = (SELECT model_id FROM limaml_model WHERE name = 'sv') AND version = 1});
($out, $err) = sq($sa, top5_sql('saved'));
like($err, qr/ERROR:  42704: limaml model version 1 of model [0-9a-f-]{36} is not on this node/,
	'A: arrays with an embedding of the deleted version fail with 42704');
is($out, '', 'A: no stale ranking from the arrays');
($out, $err) = sq($sa, q{SELECT limaml_score(s.embedding, c.code) FROM saved s, codes_v1 c LIMIT 1});
like($err, qr/ERROR:  42704: /, 'A: old codes with an old embedding fail with 42704');
is($out, '', 'A: no stale score from the codes');
like(sq_err($sa, q{SELECT limaml_item_code_info(code) FROM codes_v1 LIMIT 1}), qr/ERROR:  42704: /,
	'A: limaml_item_code_info of a deleted version fails with 42704');
is(sq_ok($sa, $top_k_sql), $new, 'A: limaml_top_k of the live embeddings is unaffected');
is(sq_ok($sa, top5_sql($live)), $new, 'A: the live embeddings rank as before');

# -------------------------------------------------------------------------
# 4. limaml_top_k and LATERAL in one snapshot, B re-adapting meanwhile
# -------------------------------------------------------------------------
sq_ok($sb, q{SELECT count(*) FROM limaml_train('sv', epochs => 1, outer_lr => 0.01)});
sq_ok($sa, 'BEGIN ISOLATION LEVEL REPEATABLE READ');
my $lateral = sq_ok($sa, top5_sql($live));
start_async($sb, q{SELECT count(limaml_adapt(member_id, 'sv')) FROM planted_members});
my $helper = sq_ok($sa, $top_k_sql);
($out, $err) = wait_async($sb);
is($err, '', 'B re-adapted every member to the third version meanwhile');
is($helper, $lateral, 'A: limaml_top_k equals LATERAL inside its snapshot');
is(sq_ok($sa, $top_k_sql), $lateral, 'A: still after B committed');
sq_ok($sa, 'COMMIT');
my $third = sq_ok($sa, $top_k_sql);
isnt($third, $lateral, 'after the snapshot A sees the third version');
is($third, $node->safe_psql('postgres', top5_sql($live)),
	'A: limaml_top_k equals a fresh session\'s LATERAL ranking');

$sa->quit;
$sb->quit;
$node->stop;
done_testing();
