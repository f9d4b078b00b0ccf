
# limaml: memory stays flat on error paths (issue 9).  One session calls
# every failing call of the extension many times, each inside an exception
# handler (a subtransaction), and its backend's memory contexts
# (pg_backend_memory_contexts) must not grow: no context left under
# TopMemoryContext or CacheMemoryContext, no plan kept, by a failed call.

use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LimamlTest;

my $node = new_limaml_node('error_memory');
planted_data($node, n_members => 40, per_member => 12);

$node->safe_psql('postgres', q{
	SELECT limaml_create_model('m', 'planted_interactions', embedding_dim => 4, seed => 1);
	SELECT count(*) FROM limaml_train('m', epochs => 1);
	CREATE TABLE good AS SELECT limaml_adapt(1, 'm') AS e, limaml_item_encode('m', '{1,0,0,0,0,0,0,0}') AS c;
	CREATE TABLE bad_items (item_id bigint, features real[]);
	INSERT INTO bad_items VALUES (1, '{1,2}');
	SELECT limaml_create_model('big_window', 'planted_interactions', embedding_dim => 4,
		global_hidden => '{256,256}', support_size => 20000, query_size => 20000, seed => 1);
	-- a version whose stored parameters hold a NaN: every load of it fails
	SELECT limaml_create_model('corrupt', 'planted_interactions', embedding_dim => 4, seed => 2);
	UPDATE limaml_model_version v SET params = overlay(params PLACING '\x0000c07f'::bytea FROM 1 FOR 4)
	  FROM limaml_model m WHERE m.model_id = v.model_id AND m.name = 'corrupt';
});

# every call must fail; the function returns the calls that did not, and
# the SQLSTATEs seen, so a call that stopped failing is noticed
my @calls = (
	# bad embedding bytea, corrupt item code, a foreign item code
	q{SELECT limaml_score('\x0102'::bytea, '{1,0,0,0,0,0,0,0}'::real[])},
	q{SELECT limaml_score(e, overlay(c PLACING '\xffff'::bytea FROM 30 FOR 2)) FROM good},
	q{SELECT limaml_score(c, c) FROM good},
	q{SELECT limaml_embedding_info(overlay(e PLACING '\xffff'::bytea FROM 30 FOR 2)) FROM good},
	# unknown model
	q{SELECT limaml_adapt(1, 'no_such_model')},
	q{SELECT limaml_item_encode('no_such_model', '{1,0,0,0,0,0,0,0}')},
	q{SELECT limaml_model_export('no_such_model')},
	q{SELECT limaml_drop_model('no_such_model')},
	# bad arguments
	q{SELECT limaml_create_model('x', 'planted_interactions', embedding_dim => 0)},
	q{SELECT limaml_create_model('m', 'planted_interactions')},
	q{SELECT count(*) FROM limaml_train('m', epochs => 0)},
	q{SELECT count(*) FROM limaml_train('no_such_model')},
	q{SELECT limaml_adapt(NULL, 'm')},
	q{SELECT limaml_adapt_agg('m', NULL, '{1}'::real[], 1, now())},
	q{SELECT limaml_adapt_agg('m', NULL, '{1,0,0,0,0,0,0,0}'::real[], 7, now())},
	q{SELECT limaml_score(e, '{1,2}'::real[]) FROM good},
	q{SELECT count(*) FROM limaml_top_k('m', 'bad_items')},
	q{SELECT count(*) FROM limaml_top_k('m', 'planted_interactions')},
	q{SELECT count(*) FROM limaml_evaluate('m', segments => '{0}')},
	q{SELECT limaml_item_encode('m', '{1,0,0,0,0,0,0,0}', version => 99)},
	# import of bad JSON documents
	q{SELECT limaml_model_import('y', '{"format": "x"}')},
	q{SELECT limaml_model_import('y', jsonb_set(limaml_model_export('m'), '{format_version}', '99'))},
	q{SELECT limaml_model_import('y', limaml_model_export('m') - 'config')},
	q{SELECT limaml_model_import('m', jsonb_set(limaml_model_export('m'), '{config,embedding_dim}', '5'))},
	# a failed load of a corrupt version
	q{SELECT limaml_adapt(1, 'corrupt')},
	q{SELECT limaml_item_encode('corrupt', '{1,0,0,0,0,0,0,0}')},
	q{SELECT limaml_model_export('corrupt')},
	# the working memory cap
	q{SET LOCAL limaml.max_work_mem = '16MB'; SELECT count(*) FROM limaml_train('big_window')},
	q{SET LOCAL limaml.max_work_mem = '16MB'; SELECT limaml_adapt(1, 'big_window')},
);
my $body = join("\n", map {
	my $q = $_;
	$q =~ s/\$\$/\$q\$/g;
	qq{\t\tBEGIN\n\t\t\tEXECUTE \$q\$$q\$q\$;\n\t\t\tunexpected := unexpected + 1;\n\t\t\tRAISE WARNING 'did not fail: %', \$q\$$q\$q\$;\n}
	  . qq{\t\tEXCEPTION WHEN OTHERS THEN\n\t\t\tstates := states || SQLSTATE;\n\t\tEND;}
} @calls);
$node->safe_psql('postgres', qq{
CREATE FUNCTION fail_all(rounds int, OUT unexpected int, OUT states text) LANGUAGE plpgsql AS \$f\$
DECLARE
	all_states text[] := '{}';
BEGIN
	unexpected := 0;
	FOR i IN 1 .. rounds LOOP
		DECLARE
			states text[] := '{}';
		BEGIN
$body
			all_states := states;
		END;
	END LOOP;
	SELECT string_agg(DISTINCT s, ',' ORDER BY s) INTO states FROM unnest(all_states) s;
END \$f\$});

my $memory_sql = q{SELECT sum(total_bytes), count(*) FILTER (WHERE name ILIKE 'limaml%')
	FROM pg_backend_memory_contexts};

my $s = session($node);
# warm up: caches, the plpgsql function, the library
my $first = sq_ok($s, q{SELECT unexpected || ' ' || states FROM fail_all(5)});
note "SQLSTATEs: $first";
like($first, qr/^0 /, 'every call fails');
like($first, qr/42704/, 'unknown models fail with 42704');
like($first, qr/54000/, 'the working memory cap fails with 54000');
like($first, qr/XX001/, 'the corrupt version fails to load with XX001');
sq_ok($s, q{SELECT unexpected FROM fail_all(20)});
my ($bytes0, $ctx0) = split /\|/, sq_ok($s, $memory_sql);
for my $round (1 .. 5)
{
	is(sq_ok($s, q{SELECT unexpected FROM fail_all(40)}), '0', "round $round: every call failed");
}
my ($bytes1, $ctx1) = split /\|/, sq_ok($s, $memory_sql);
note "backend memory before $bytes0 bytes ($ctx0 limaml contexts), after 200 rounds of "
  . scalar(@calls) . " failing calls $bytes1 bytes ($ctx1 limaml contexts)";
cmp_ok($bytes1 - $bytes0, '<', 256 * 1024,
	'the backend\'s memory did not grow by 256 kB over 200 rounds of failing calls');
is($ctx1, $ctx0, 'no limaml memory context was left behind');
is(sq_ok($s, q{SELECT length(limaml_adapt(1, 'm')) > 0}), 't', 'the session still adapts');

$s->quit;
$node->stop;
done_testing();
