
# limaml is a trusted extension: a role with CREATE on its database (no
# superuser) installs it and runs the whole workflow over its own table.

use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LimamlTest;

my $node = new_limaml_node('trusted', no_extension => 1);
$node->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN;
	CREATE ROLE bob LOGIN;
	CREATE DATABASE appdb;
	GRANT CREATE ON DATABASE appdb TO alice;
});

sub as_ok
{
	my ($user, $sql) = @_;
	return $node->safe_psql('appdb', $sql, extra_params => [ '-U', $user ]);
}

is(as_ok('alice', q{SELECT rolsuper OR rolcreatedb OR rolcreaterole FROM pg_roles
	WHERE rolname = current_user}), 'f', 'alice has no special attributes');

# bob has no CREATE on the database: trusted still needs that
my ($ret, $out, $err) = (0, '', '');
$ret = $node->psql('appdb', 'CREATE EXTENSION limaml',
	stdout => \$out, stderr => \$err, extra_params => [ '-U', 'bob', '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  42501: permission denied to create extension "limaml"/,
	'bob, without CREATE on the database, cannot create the extension (42501)');

# alice: her own schema (PostgreSQL 15's public schema is not writable)
as_ok('alice', 'CREATE SCHEMA alice');
$ret = $node->psql('appdb', 'CREATE EXTENSION limaml',
	stdout => \$out, stderr => \$err, extra_params => [ '-U', 'alice', '-v', 'VERBOSITY=verbose' ]);
is($ret, 0, 'alice creates the trusted extension');
is($err, '', 'CREATE EXTENSION by alice reports no error');
is(as_ok('alice', q{SELECT extname || ':' || pg_get_userbyid(extowner) FROM pg_extension
	WHERE extname = 'limaml'}), 'limaml:alice', 'alice owns the extension');

planted_data($node, db => 'appdb', user => 'alice', n_members => 100, per_member => 30);
is(as_ok('alice', q{SELECT pg_get_userbyid(relowner) FROM pg_class
	WHERE oid = 'planted_interactions'::regclass}), 'alice', 'the source table is alice\'s');

my $model_id = as_ok('alice', q{SELECT limaml_create_model('m', 'planted_interactions',
	embedding_dim => 8, meta_hidden => '{16}', global_hidden => '{16}',
	support_size => 20, query_size => 5, seed => 5)});
like($model_id, qr/^\d+$/, 'alice creates a model over her own table');
is(as_ok('alice', q{SELECT count(*) FROM limaml_train('m', epochs => 2)}), '2',
	'alice trains the model (2 epochs)');
is(as_ok('alice', q{SELECT active_version FROM limaml_model WHERE name = 'm'}), '1',
	'training stored version 1 as active');
is(as_ok('alice', q{SELECT count(limaml_adapt(member_id, 'm')) FROM planted_members}), '100',
	'alice adapts all 100 members');
is(as_ok('alice', q{SELECT count(*) FROM limaml_meta_embedding WHERE model = 'm'}), '100',
	'one meta embedding per member');
is(as_ok('alice', q{SELECT count(*) FILTER (WHERE s BETWEEN 0 AND 1) || '/' || count(*)
	FROM (SELECT limaml_score(e.embedding, i.features) AS s
	        FROM limaml_meta_embedding e CROSS JOIN planted_items i
	       WHERE e.model = 'm' AND e.member_id <= 10) t}), '640/640',
	'alice scores 10 members x 64 items: all probabilities');
is(as_ok('alice', q{SELECT jsonb_typeof(limaml_model_export('m'))}), 'object',
	'alice exports the model');
is(as_ok('alice', q{SELECT limaml_drop_model('m'); SELECT count(*) FROM limaml_model}), "\n0",
	'alice drops the model');

# bob may not use alice's model: it does not exist for him (test/t/040_ownership.pl has the rest)
as_ok('alice', q{SELECT limaml_create_model('m', 'planted_interactions',
	embedding_dim => 8, meta_hidden => '{16}', global_hidden => '{16}', seed => 5);
	GRANT USAGE ON SCHEMA alice TO bob});
$node->psql('appdb', q{SET search_path = alice; SELECT limaml_adapt(1, 'm')},
	stdout => \$out, stderr => \$err, extra_params => [ '-U', 'bob', '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  42704: limaml model "m" does not exist/,
	'bob cannot adapt with alice\'s model: it does not exist for him (42704)');
$node->psql('appdb', q{SET search_path = alice; SELECT count(*) FROM limaml_train('m', epochs => 1)},
	stdout => \$out, stderr => \$err, extra_params => [ '-U', 'bob', '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  42704: limaml model "m" does not exist/,
	'bob cannot train alice\'s model (42704)');
is(as_ok('alice', q{SELECT string_agg(version::text, ',') FROM limaml_model_version}), '0',
	'bob\'s failed training stored no version');

# granted, bob adapts from alice's table with her rights, and still may not train
as_ok('alice', q{SELECT limaml_grant('m', 'bob')});
like(as_ok('bob', q{SET search_path = alice; SELECT limaml_adapt(1, 'm')}), qr/^\\x/,
	'granted, bob adapts without any privilege on alice\'s table');
$node->psql('appdb', q{SET search_path = alice; SELECT count(*) FROM limaml_train('m', epochs => 1)},
	stdout => \$out, stderr => \$err, extra_params => [ '-U', 'bob', '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  42501: permission denied for limaml model "m"/,
	'granted, bob still cannot train alice\'s model (42501)');

$node->stop;

done_testing();
