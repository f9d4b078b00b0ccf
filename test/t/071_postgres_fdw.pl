
# limaml over plain PostgreSQL sharding (issue 10): a hash-partitioned parent
# whose partitions are postgres_fdw foreign tables in two other databases
# ("shards", here in the same cluster), each with limaml and the model
# (copied with export/import, which keeps its identity).  The aggregate
# naming its model by uuid is shipped to the shards; the text form is not,
# because postgres_fdw ships no expression whose input collation does not
# come from a foreign column, and a text constant has one.

use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LimamlTest;

my $node = new_limaml_node('fdw');
sub q1 { return $node->safe_psql($_[1] // 'postgres', $_[0]); }

my $columns = q{member_id bigint, item_id bigint, member_features real[], item_features real[],
	label real, ts timestamptz};
for my $shard (qw(shard0 shard1))
{
	q1("CREATE DATABASE $shard");
	q1("CREATE EXTENSION limaml; CREATE TABLE interactions_part ($columns)", $shard);
}
planted_data($node, n_members => 80, per_member => 25);
my $host = $node->host;
my $port = $node->port;
q1(qq{
CREATE EXTENSION postgres_fdw;
CREATE TABLE interactions ($columns) PARTITION BY HASH (member_id);
});
for my $r (0, 1)
{
	q1(qq{
CREATE SERVER shard$r FOREIGN DATA WRAPPER postgres_fdw
	OPTIONS (host '$host', port '$port', dbname 'shard$r', extensions 'limaml');
CREATE USER MAPPING FOR CURRENT_USER SERVER shard$r;
CREATE FOREIGN TABLE interactions_$r PARTITION OF interactions
	FOR VALUES WITH (MODULUS 2, REMAINDER $r) SERVER shard$r OPTIONS (table_name 'interactions_part');
});
}
q1(q{
INSERT INTO interactions
SELECT member_id, (hashtext(item_features::text) & 63)::bigint, member_features, item_features, label, ts
  FROM planted_interactions;
CREATE TABLE local_interactions AS SELECT * FROM interactions;
SELECT limaml_create_model('m', 'local_interactions', embedding_dim => 4, support_size => 10,
	query_size => 5, seed => 1);
SELECT count(*) FROM limaml_train('m', epochs => 1);
CREATE TABLE saved AS SELECT limaml_model_export('m') AS doc;
});
my $doc = q1(q{SELECT doc FROM saved});
$doc =~ s/'/''/g;
q1("SELECT limaml_model_import('m', '$doc')", $_) for qw(shard0 shard1);
my $uuid = q1(q{SELECT model_uuid FROM limaml_model WHERE name = 'm'});
is(q1(q{SELECT model_uuid FROM limaml_model WHERE name = 'm'}, 'shard1'), $uuid,
	'the shard holds the model under the same identity');

my $by_uuid = "limaml_adapt_agg('$uuid'::uuid, member_features, item_features, label, ts, item_id)";
my $by_name = q{limaml_adapt_agg('m', member_features, item_features, label, ts, item_id)};
my $explain = "SET enable_partitionwise_aggregate = on; EXPLAIN (VERBOSE, COSTS OFF) "
  . "SELECT member_id, %s FROM interactions GROUP BY member_id";
my $plan = q1(sprintf($explain, $by_uuid));
like($plan, qr/Remote SQL: SELECT member_id, public\.limaml_adapt_agg\(/,
	'the uuid form of the aggregate is shipped to the shards');
unlike(q1(sprintf($explain, $by_name)), qr/Remote SQL: SELECT member_id, public\.limaml_adapt_agg/,
	'the text form is not (its collation): documented');

is(q1(qq{SET enable_partitionwise_aggregate = on;
	WITH d AS MATERIALIZED (SELECT member_id, $by_uuid AS e FROM interactions GROUP BY member_id),
		 l AS MATERIALIZED (SELECT member_id, $by_name AS e FROM local_interactions GROUP BY member_id)
	SELECT count(*) || ' ' || count(*) FILTER (WHERE d.e = l.e) FROM d JOIN l USING (member_id)}),
	'80 80', 'embeddings made on the shards are the bytes of one server');
my ($ret, $out, $err) = $node->psql('postgres', q{SELECT limaml_adapt_agg('00000000-0000-0000-0000-000000000001'::uuid,
	member_features, item_features, label) FROM local_interactions},
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/42704: limaml model 00000000-0000-0000-0000-000000000001 does not exist on this node/,
	'an unknown uuid is an error (42704) that says so');

$node->stop;
done_testing();
