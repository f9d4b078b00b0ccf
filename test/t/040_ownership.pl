
# Model ownership (issue 9, defects 1 and 2): two ordinary roles sharing a
# database cannot read, change, drop or hijack each other's models by any
# path; a grant lets a role use a model, never own it; the model's source
# is read with its owner's rights whoever calls.

use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LimamlTest;

my $node = new_limaml_node('ownership');
$node->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN;
	CREATE ROLE bob LOGIN;
	CREATE ROLE carol LOGIN IN ROLE alice;		-- a member of alice
	CREATE ROLE analysts;
	CREATE ROLE dave LOGIN IN ROLE analysts;	-- a member of a group
	CREATE SCHEMA alice AUTHORIZATION alice;
	CREATE SCHEMA bob AUTHORIZATION bob;
});
planted_data($node, user => 'alice', n_members => 40, per_member => 20);

my $su = session($node);
my $alice = session($node, user => 'alice');
my $bob = session($node, user => 'bob');
my $carol = session($node, user => 'carol');
my $dave = session($node, user => 'dave');

sub denied
{
	my ($s, $sql, $what, $model) = @_;
	$model //= 'alice_m';
	like(sq_err($s, $sql), qr/ERROR:  42501: permission denied for limaml model "$model"/,
		"$what: 42501");
}

sub err_like
{
	my ($s, $sql, $re, $what) = @_;
	like(sq_err($s, $sql), $re, $what);
}

my $hidden = qr/ERROR:  42704: limaml model "alice_m" does not exist/;
my $hidden_id = qr/ERROR:  42704: limaml model version \d+ of model id \d+ does not exist/;
my $rls = qr/ERROR:  42501: new row violates row-level security policy for table "limaml_/;

# alice's model, trained and adapted, and what bob may see of her data
sq_ok($alice, q{
	SELECT limaml_create_model('alice_m', 'planted_interactions', embedding_dim => 4,
		meta_hidden => '{8}', global_hidden => '{8}', support_size => 10, query_size => 5, seed => 1);
	SELECT count(*) FROM limaml_train('alice_m', epochs => 1);
	SELECT count(limaml_adapt(member_id, 'alice_m')) FROM planted_members WHERE member_id <= 5;
	CREATE TABLE alice.secret AS SELECT 42 AS x;
	CREATE TABLE alice.shared AS
		SELECT embedding FROM limaml_meta_embedding WHERE model = 'alice_m' AND member_id = 1;
	GRANT USAGE ON SCHEMA alice TO bob, dave;
	GRANT SELECT ON alice.shared, alice.planted_items TO bob, dave});
is(sq_ok($alice, q{SELECT owner FROM limaml_model WHERE name = 'alice_m'}), 'alice',
	'the creator owns the model');
my $params_before = sq_ok($alice, q{SELECT md5(string_agg(params::text, ',' ORDER BY version))
	FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'alice_m'});
my $emb_before = sq_ok($alice, q{SELECT md5(string_agg(embedding::text, ',' ORDER BY member_id))
	FROM limaml_meta_embedding WHERE model = 'alice_m'});
my $alice_id = sq_ok($alice, q{SELECT model_id FROM limaml_model WHERE name = 'alice_m'});

# bob's trojan: a view of his that calls a function of his, copying her secret
sq_ok($bob, q{
	CREATE TABLE bob.loot (x int);
	GRANT INSERT ON bob.loot TO PUBLIC;
	CREATE FUNCTION bob.evil() RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO bob.loot SELECT x FROM alice.secret;
		RETURN true;
	EXCEPTION WHEN insufficient_privilege THEN RETURN true;
	END $$;
	CREATE VIEW bob.trojan AS
		SELECT 1::bigint AS member_id, '{0}'::real[] AS member_features, '{0}'::real[] AS item_features,
			   1::real AS label, now() AS ts WHERE bob.evil();
	GRANT SELECT ON bob.trojan TO PUBLIC});

# ---------------------------------------------------- bob, without a grant
# alice's model does not exist for him: every path by name is 42704
err_like($bob, q{SELECT limaml_model_export('alice_m')}, $hidden, 'export of her model: 42704');
err_like($bob, q{SELECT limaml_drop_model('alice_m')}, $hidden, 'drop of her model: 42704');
err_like($bob, q{SELECT * FROM limaml_train('alice_m', epochs => 1)}, $hidden, 'training her model: 42704');
err_like($bob, q{SELECT limaml_adapt(1, 'alice_m')}, $hidden, 'adapting with her model: 42704');
err_like($bob, q{SELECT limaml_adapt_agg('alice_m', '{0,0,0}', '{1,0,0,0,0,0,0,0}', 1)},
	$hidden, 'limaml_adapt_agg with her model: 42704');
err_like($bob, q{SELECT limaml_item_encode('alice_m', '{1,0,0,0,0,0,0,0}')}, $hidden,
	'item codes of her model: 42704');
err_like($bob, q{SELECT * FROM limaml_top_k('alice_m', 'alice.planted_items')}, $hidden,
	'limaml_top_k of her model: 42704');
err_like($bob, q{SELECT limaml_grant('alice_m', 'bob')}, $hidden, 'granting her model to himself: 42704');
err_like($bob, q{CALL limaml_refresh('alice_m')}, $hidden, 'refresh of her model: 42704');
err_like($bob, q{SELECT limaml_score(embedding, '{1,0,0,0,0,0,0,0}') FROM alice.shared}, $hidden_id,
	'scoring a copy of her embedding: 42704');
my $doc = sq_ok($su, q{SELECT limaml_model_export('alice_m')});
err_like($bob, qq{SELECT limaml_model_import('alice_m', '$doc')},
	qr/ERROR:  23505: duplicate key value violates unique constraint "limaml_model_name_key"/,
	'import into her model: the name is taken (23505)');
is(sq_ok($bob, q{SELECT count(*) FROM limaml_model}) . sq_ok($bob, q{SELECT count(*) FROM limaml_model_version})
	. sq_ok($bob, q{SELECT count(*) FROM limaml_meta_embedding}), '000',
	'her models, versions and embeddings are invisible to him');
is(sq_ok($bob, q{UPDATE limaml_model SET source = 'bob.trojan' WHERE name = 'alice_m' RETURNING 1}
	. q{; SELECT 'updated'}), 'updated', 'UPDATE of her model row matches nothing');
is(sq_ok($bob, q{WITH d AS (DELETE FROM limaml_meta_embedding WHERE model = 'alice_m' RETURNING 1),
	u AS (UPDATE limaml_meta_embedding SET embedding = '\x00' WHERE model = 'alice_m' RETURNING 1),
	m AS (DELETE FROM limaml_model WHERE name = 'alice_m' RETURNING 1),
	v AS (DELETE FROM limaml_model_version WHERE model_id = } . $alice_id . q{ RETURNING 1)
	SELECT (SELECT count(*) FROM d) + (SELECT count(*) FROM u) + (SELECT count(*) FROM m)
	     + (SELECT count(*) FROM v)}), '0', 'UPDATE and DELETE of her rows match nothing');
err_like($bob, qq{INSERT INTO limaml_model_version (model_id, version, params) VALUES ($alice_id, 99, '\\x00')},
	$rls, 'a version of her model: 42501');
err_like($bob, q{INSERT INTO limaml_meta_embedding (model, member_id, embedding, model_version, n_support)
	VALUES ('alice_m', 1, '\x00', 1, 0)}, $rls, 'an embedding of her model: 42501');
err_like($bob, q{INSERT INTO limaml_refresh_progress VALUES ('alice_m', 1, 1, 1, 1, 1, 1, 1, now(), now())},
	$rls, 'refresh progress of her model: 42501');
err_like($bob, q{INSERT INTO limaml_model (name, config, owner) VALUES ('fake', '{}', 'alice')},
	$rls, 'a model in her name: 42501');
err_like($bob, qq{INSERT INTO limaml_model_grant VALUES ($alice_id, 'bob')},
	qr/ERROR:  42501: permission denied for table limaml_model_grant/, 'writing grants directly: 42501');
err_like($bob, q{TRUNCATE limaml_meta_embedding}, qr/ERROR:  42501: permission denied for table/,
	'TRUNCATE of the catalog: 42501');

# ------------------------------------------------------ bob, with a grant
sq_ok($alice, q{SELECT limaml_grant('alice_m', 'bob')});
is(sq_ok($bob, q{SELECT name || ':' || owner FROM limaml_model}), 'alice_m:alice',
	'granted, bob sees her model');
like(sq_ok($bob, q{SELECT limaml_adapt(7, 'alice_m')}), qr/^\\x/,
	'granted, bob adapts from her source without any privilege on it');
is(sq_ok($bob, q{SELECT count(*) FILTER (WHERE s BETWEEN 0 AND 1)
	FROM (SELECT limaml_score(e.embedding, i.features) AS s
	        FROM limaml_meta_embedding e, alice.planted_items i WHERE e.model = 'alice_m') t}),
	6 * 64, 'granted, bob reads and scores her embeddings');
is(sq_ok($bob, q{SELECT limaml_score(embedding, limaml_item_encode('alice_m', '{1,0,0,0,0,0,0,0}'))
	= limaml_score(embedding, '{1,0,0,0,0,0,0,0}'::real[]) FROM alice.shared}), 't',
	'granted, bob scores with item codes');
is(sq_ok($bob, q{SELECT count(*) FROM limaml_top_k('alice_m', 'alice.planted_items', 3)}), 18,
	'granted, bob ranks with limaml_top_k');
is(sq_ok($bob, q{SELECT length(limaml_adapt_agg('alice_m', '{0,0,0}', '{1,0,0,0,0,0,0,0}', 1)) > 0}), 't',
	'granted, bob adapts his own rows with limaml_adapt_agg');
is(sq_ok($bob, q{SELECT count(*) > 0 FROM limaml_evaluate('alice_m')}), 't',
	'granted, bob evaluates her model on her source');
is(sq_ok($bob, q{SELECT count(*) FROM limaml_model_version}), '0', 'granted, her parameters stay hidden');
denied($bob, q{SELECT limaml_model_export('alice_m')}, 'granted, export');
denied($bob, q{SELECT * FROM limaml_train('alice_m', epochs => 1)}, 'granted, training');
denied($bob, qq{SELECT limaml_model_import('alice_m', '$doc')}, 'granted, import into it');
denied($bob, q{SELECT limaml_drop_model('alice_m')}, 'granted, drop');
denied($bob, q{SELECT limaml_grant('alice_m', 'dave')}, 'granted, granting it on');
denied($bob, q{SELECT limaml_revoke('alice_m', 'bob')}, 'granted, revoking');
denied($bob, q{CALL limaml_refresh('alice_m')}, 'granted, refresh');
denied($bob, q{UPDATE limaml_model SET source = 'bob.trojan' WHERE name = 'alice_m'},
	'granted, setting her source to his trojan view');
denied($bob, q{UPDATE limaml_model SET owner = 'bob' WHERE name = 'alice_m'}, 'granted, taking her model over');
denied($bob, q{DELETE FROM limaml_model WHERE name = 'alice_m'}, 'granted, DELETE of her model row');
denied($bob, q{UPDATE limaml_meta_embedding SET embedding = '\x00' WHERE model = 'alice_m'},
	'granted, overwriting her embeddings');
denied($bob, q{UPDATE limaml_meta_embedding SET model = 'bob_m' WHERE model = 'alice_m'},
	'granted, moving her embeddings away');
denied($bob, q{DELETE FROM limaml_meta_embedding WHERE model = 'alice_m'}, 'granted, deleting her embeddings');
err_like($bob, q{INSERT INTO limaml_meta_embedding (model, member_id, embedding, model_version, n_support)
	VALUES ('alice_m', 1000, '\x00', 1, 0)}, $rls, 'granted, inserting her embeddings: 42501');
err_like($bob, qq{INSERT INTO limaml_model_version (model_id, version, params) VALUES ($alice_id, 99, '\\x00')},
	$rls, 'granted, a version of her model: 42501');

is(sq_ok($alice, q{SELECT source FROM limaml_model WHERE name = 'alice_m'}), 'planted_interactions',
	'her source is unchanged');
sq_ok($alice, q{SELECT limaml_adapt(2, 'alice_m')});
is(sq_ok($su, q{SELECT count(*) FROM bob.loot}), '0', 'his function never ran as her');
is(sq_ok($alice, q{SELECT md5(string_agg(params::text, ',' ORDER BY version))
	FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'alice_m'}),
	$params_before, 'her versions are unchanged');
is(sq_ok($alice, q{SELECT md5(string_agg(embedding::text, ',' ORDER BY member_id))
	FROM limaml_meta_embedding WHERE model = 'alice_m' AND member_id <> 7}),
	$emb_before, 'her embeddings are unchanged (member 7, adapted by bob, added)');

# ------------------------------------------------------------- revoke
# bob's session cached her model and his access; the revoke holds at once
sq_ok($su, q{SELECT limaml_adapt(3, 'alice_m')});
sq_ok($alice, q{SELECT limaml_revoke('alice_m', 'bob')});
err_like($bob, q{SELECT limaml_score(embedding, '{1,0,0,0,0,0,0,0}') FROM alice.shared}, $hidden_id,
	'revoked: scoring in a session that cached the model: 42704');
err_like($bob, q{SELECT limaml_adapt(7, 'alice_m')}, $hidden, 'revoked: adapt: 42704');
is(sq_ok($bob, q{SELECT count(*) FROM limaml_meta_embedding}), '0', 'revoked: her embeddings are hidden again');
# the superuser's session cached it too: a SET ROLE does not inherit that
err_like($su, q{SET ROLE bob; SELECT limaml_score(embedding, '{1,0,0,0,0,0,0,0}') FROM alice.shared},
	$hidden_id, 'revoked: SET ROLE bob in a session that used the model: 42704');
sq_ok($su, q{RESET ROLE});

# ------------------------------------------------------------- groups, members
sq_ok($alice, q{SELECT limaml_grant('alice_m', 'analysts')});
like(sq_ok($dave, q{SELECT limaml_adapt(8, 'alice_m')}), qr/^\\x/, 'a grant to a group covers its members');
denied($dave, q{SELECT limaml_model_export('alice_m')}, 'a group member may not export');
is(sq_ok($carol, q{SELECT jsonb_typeof(limaml_model_export('alice_m'));
	SELECT count(*) FROM limaml_train('alice_m', epochs => 1);
	SELECT limaml_grant('alice_m', 'bob'); SELECT limaml_revoke('alice_m', 'bob');
	UPDATE limaml_model SET config = config WHERE name = 'alice_m';
	SELECT count(*) FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'alice_m'}),
	"object\n1\n\n\n3", 'a member of alice exports, trains, grants, alters and reads the versions');
sq_ok($carol, q{CALL limaml_refresh('alice_m')});
is(sq_ok($alice, q{SELECT count(*) FROM limaml_meta_embedding e JOIN limaml_model m ON m.name = e.model
	WHERE e.model = 'alice_m' AND e.model_version = m.active_version}), '40',
	'a member of alice refreshes her model');

# ------------------------------------------------- whose rights read the source
# alice's model over her view calling her function: whoever adapts, it runs as alice
sq_ok($alice, q{
	CREATE TABLE alice.who_ran (who text);
	CREATE FUNCTION alice.note_user() RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO alice.who_ran VALUES (current_user);
		RETURN true;
	END $$;
	CREATE VIEW alice.noted AS SELECT * FROM alice.planted_interactions WHERE (SELECT alice.note_user());
	SELECT limaml_create_model('alice_v', 'alice.noted', embedding_dim => 4, meta_hidden => '{8}',
		global_hidden => '{8}', support_size => 10, query_size => 5, seed => 1);
	SELECT limaml_grant('alice_v', 'bob');
	TRUNCATE alice.who_ran});
like(sq_ok($bob, q{SELECT limaml_adapt(1, 'alice_v')}), qr/^\\x/, 'bob adapts with her model over her view');
sq_ok($su, q{SELECT limaml_adapt(2, 'alice_v'); SELECT count(*) FROM limaml_train('alice_v', epochs => 1)});
sq_ok($carol, q{SELECT limaml_adapt(3, 'alice_v')});
like(sq_ok($alice, q{SELECT string_agg(DISTINCT who, ',') || ' ' || count(*) FROM alice.who_ran}),
	qr/^alice [1-9]\d*$/, 'her function ran as alice for bob, the superuser (adapt, train) and her member');
is(sq_ok($alice, q{SELECT n_support FROM limaml_meta_embedding WHERE model = 'alice_v' AND member_id = 1}),
	'10', 'the grantee\'s adapt stored the embedding the owner would');

# ---------------------------------------------------------------- superuser
is(sq_ok($su, q{SELECT jsonb_typeof(limaml_model_export('alice_m'));
	UPDATE limaml_model SET config = config WHERE name = 'alice_m';
	SELECT limaml_grant('alice_m', 'bob'); SELECT limaml_revoke('alice_m', 'bob');
	SELECT limaml_drop_model('alice_v'); SELECT count(*) FROM limaml_model}),
	"object\n\n\n\n1", 'a superuser exports, alters, grants and drops any model');
is(sq_ok($su, q{SELECT count(*) FROM limaml_model_grant}), '1', 'dropping a model drops its grants');

# ------------------------------------------------------------- bad input
err_like($alice, q{SELECT limaml_grant('nope', 'bob')}, qr/ERROR:  42704: limaml model "nope" does not exist/,
	'grant of an unknown model: 42704');
err_like($alice, q{SELECT limaml_grant('alice_m', 'nobody')}, qr/ERROR:  42704: role "nobody" does not exist/,
	'grant to an unknown role: 42704');
err_like($alice, q{SELECT limaml_grant('alice_m', NULL)}, qr/ERROR:  22004: model and role must not be NULL/,
	'grant with NULL: 22004');
err_like($alice, q{SELECT limaml_revoke(NULL, 'bob')}, qr/ERROR:  22004/, 'revoke with NULL: 22004');
is(sq_ok($alice, q{SELECT limaml_revoke('alice_m', 'dave'); SELECT limaml_grant('alice_m', 'dave');
	SELECT limaml_grant('alice_m', 'dave'); SELECT count(*) FROM limaml_model_grant g
	JOIN limaml_model m USING (model_id) WHERE m.name = 'alice_m'}), "\n\n\n2",
	'revoking what was not granted and granting twice are no-ops');
err_like($bob, q{SELECT limaml_create_model('alice_m', 'bob.trojan', member_dim => 1, item_dim => 1)},
	qr/ERROR:  23505: duplicate key value violates unique constraint "limaml_model_name_key"/,
	'model names are shared: bob cannot take hers (23505)');

$_->quit for ($alice, $bob, $carol, $dave, $su);
$node->stop;
done_testing();
