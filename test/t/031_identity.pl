# Model identity across databases (issue 10): two databases of one cluster
# stand for two nodes.  Embeddings and item codes made in A score in B once
# B imported A's export (the same UUID, version and content hash), byte for
# byte as in A; an embedding of a model B does not hold fails clearly, never
# scoring with B's own weights, even when B has a model of that name and
# shape at that version number.

use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LimamlTest;

my $node = new_limaml_node('identity', no_extension => 1);
for my $db ('a', 'b')
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, 'CREATE EXTENSION limaml');
	planted_data($node, db => $db, n_members => 40, per_member => 20);
}

# the same model name, shape and version numbers in both; only A's is trained
my $create = q{SELECT limaml_create_model('m', 'planted_interactions', embedding_dim => 4,
	global_hidden => '{8}', support_size => 10, seed => 7)};
$node->safe_psql($_, $create) for ('a', 'b');
$node->safe_psql('a', q{SELECT count(*) FROM limaml_train('m', epochs => 2, outer_lr => 0.02)});
$node->safe_psql('b', q{SELECT count(*) FROM limaml_train('m', epochs => 1, outer_lr => 0.5)});
$node->safe_psql('a', q{CALL limaml_refresh('m')});
is($node->safe_psql('a', q{SELECT active_version FROM limaml_model WHERE name = 'm'}),
	$node->safe_psql('b', q{SELECT active_version FROM limaml_model WHERE name = 'm'}),
	'both databases hold model "m" at the same version number');

# A's embeddings and item codes, with A's scores, carried to B as bytes
my $carry = q{
	SELECT e.member_id, encode(e.embedding, 'hex'), i.item_id,
	       encode(limaml_item_encode('m', i.features), 'hex'), limaml_score(e.embedding, i.features)
	  FROM limaml_meta_embedding e, planted_items i WHERE e.model = 'm' AND i.item_id <= 6};
my $rows = $node->safe_psql('a', $carry);
my $values = join(",\n", map { my @f = split /\|/; "($f[0], decode('$f[1]', 'hex'), $f[2], decode('$f[3]', 'hex'), $f[4]::real)" }
	split /\n/, $rows);
$node->safe_psql('b', "CREATE TABLE from_a (member_id bigint, embedding bytea, item_id bigint, code bytea, score real);
	INSERT INTO from_a VALUES $values");
is($node->safe_psql('b', q{SELECT count(*) FROM from_a}), 40 * 6, "A's embeddings and codes are in B");

# B's own model "m" (same name, shape, version number) is another model: no score
my ($ret, $out, $err) = $node->psql('b', q{SELECT limaml_score(embedding, '{1,0,0,0,0,0,0,0}') FROM from_a LIMIT 1},
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  42704: limaml model version \d+ of model [0-9a-f-]{36} is not on this node \(database "b"\)/,
	'an embedding of a model B does not hold fails in B, naming the version, the model and the node');
($ret, $out, $err) = $node->psql('b', q{SELECT limaml_score(embedding, code) FROM from_a LIMIT 1},
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  42704: /, 'so does scoring it with its item code');
($ret, $out, $err) = $node->psql('b', q{SELECT limaml_item_code_info(code) FROM from_a LIMIT 1},
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  42704: .*item code/s, 'and reading the item code');

# B imports A's export under another name: the UUID is free in B, so the
# import keeps it (the name is local), and A's bytes score in B as in A
my $export = $node->safe_psql('a', q{SELECT limaml_model_export('m')});
$export =~ s/'/''/g;
is($node->safe_psql('b', "SELECT limaml_model_import('m_a', '$export'::jsonb, 'planted_interactions')"),
	$node->safe_psql('a', q{SELECT active_version FROM limaml_model WHERE name = 'm'}),
	'B imports A\'s model under its own name, at A\'s version number');
is($node->safe_psql('b', q{SELECT model_uuid FROM limaml_model WHERE name = 'm_a'}),
	$node->safe_psql('a', q{SELECT model_uuid FROM limaml_model WHERE name = 'm'}),
	'with A\'s UUID');
is($node->safe_psql('b', q{
	SELECT count(*) FILTER (WHERE limaml_score(f.embedding, i.features) = f.score) || '/'
	       || count(*) FILTER (WHERE limaml_score(f.embedding, f.code) = f.score) || '/' || count(*)
	  FROM from_a f JOIN planted_items i USING (item_id)}),
	'240/240/240', "A's embeddings and item codes score in B exactly as in A");
is($node->safe_psql('b', q{
	SELECT count(*) FROM (SELECT f.member_id, f.embedding,
	                             (SELECT limaml_adapt_agg('m_a', p.member_features, p.item_features, p.label, p.ts)
	                                FROM planted_interactions p WHERE p.member_id = f.member_id) AS here
	                        FROM (SELECT DISTINCT member_id, embedding FROM from_a) f) s
	 WHERE here = embedding}),
	'40', 'B adapts every member to the very bytes A stored');
# importing the same export again is a no-op
is($node->safe_psql('b', "SELECT limaml_model_import('m_a', '$export'::jsonb) = active_version,
	(SELECT count(*) FROM limaml_model_version v WHERE v.model_id = m.model_id)
	FROM limaml_model m WHERE name = 'm_a'"), "t|1", 'importing it again changes nothing');

# the model dropped in B: A's embeddings fail again, they are not read as B's "m"
$node->safe_psql('b', q{SELECT limaml_drop_model('m_a')});
($ret, $out, $err) = $node->psql('b', q{SELECT limaml_score(embedding, '{1,0,0,0,0,0,0,0}') FROM from_a LIMIT 1},
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  42704: .*not on this node/, 'after a drop in B, A\'s embeddings fail again');

$node->stop;
done_testing();
