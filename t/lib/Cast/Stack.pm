package Cast::Stack;

# The test stack (scripts/stack.sh) seen from a test: its environment,
# its parts, and plain clients for its GraphQL endpoint, Redis and
# PostgreSQL.  Nothing here depends on the block harness in use.

use strict;
use warnings;

use Cwd qw(abs_path);
use Exporter 'import';
use File::Basename qw(dirname);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(sleep time);

our @EXPORT = qw(
    repo_root cast_stack_env cast_stack graphql graphql_sized redis_cmd
    psql_query free_port wait_for
);

my $REPO = abs_path(dirname(__FILE__) . '/../../..');
my $REDIS_SOCK;


# a loopback port nobody listens on now, for a private server
sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, ReuseAddr => 1)
        or die "no free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}


# wait_for($seconds, $cond): polls $cond every 0.2 s; whether it held
sub wait_for {
    my ($seconds, $cond) = @_;
    my $end = time + $seconds;

    until ($cond->()) {
        return 0 if time > $end;
        sleep 0.2;
    }
    return 1;
}


sub repo_root { return $REPO }


# The test stack's stack.env: $CAST_VAR/stack.env, else t/var/stack.env.
sub cast_stack_env {
    my $file = ($ENV{CAST_VAR} // "$REPO/t/var") . '/stack.env';
    my %env;

    open my $fh, '<', $file or return ();
    while (my $line = <$fh>) {
        next unless $line =~ /^export ([A-Z_0-9]+)=(.*)$/;
        my ($k, $v) = ($1, $2);
        $v =~ s/\\(.)/$1/g;
        $env{$k} = $v;
    }
    close $fh;
    return %env;
}


sub cast_stack {
    my @args = @_;
    my $out = '';

    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        exec "$REPO/scripts/stack.sh", @args or die "exec stack.sh: $!";
    }
    $out .= $_ while <$fh>;
    close $fh;
    my $ok = $? == 0;
    if ($ok) {
        Test::More::note($out);
    } else {
        Test::More::diag("stack.sh @args failed:\n$out");
    }
    return $ok;
}


# graphql($query, $vars, url => ..., headers => {...}, raw => body)
# returns (status, decoded JSON or undef, response).
sub graphql {
    my ($query, $vars, %opt) = @_;
    my $url = $opt{url} // $ENV{CAST_GRAPHQL_URL}
        // die "graphql: no url and no CAST_GRAPHQL_URL\n";
    my %req = (query => $query);

    $req{variables} = $vars if defined $vars;
    my $body = $opt{raw} // JSON::PP->new->canonical->encode(\%req);
    my $res = HTTP::Tiny->new(timeout => $opt{timeout} // 10)->request(
        $opt{method} // 'POST', $url, {
            headers => {
                'content-type' => 'application/json',
                accept => 'application/graphql-response+json, application/json',
                %{ $opt{headers} // {} },
            },
            content => $body,
        });
    my $json = eval { JSON::PP->new->decode($res->{content}) };
    return ($res->{status}, $json, $res);
}


# graphql()'s status and JSON, and the length of the body it answered
sub graphql_sized {
    my ($status, $json, $res) = graphql(@_);

    return ($status, $json, length($res->{content} // ''));
}


sub redis_connect {
    my $url = $ENV{CAST_REDIS_URL} // die "redis_cmd: no CAST_REDIS_URL\n";

    return $REDIS_SOCK if $REDIS_SOCK && $REDIS_SOCK->connected;
    my ($host, $port, $db) =
        $url =~ m{^redis://(?:[^@/]*@)?([^:/]+)(?::(\d+))?(?:/(\d+))?}
        or die "redis_cmd: bad url $url\n";
    $REDIS_SOCK = IO::Socket::INET->new(PeerAddr => $host,
        PeerPort => $port // 6379, Timeout => 5)
        or die "redis_cmd: cannot connect to $url: $!\n";
    if ($db) {
        redis_send('SELECT', $db);
    }
    return $REDIS_SOCK;
}


sub redis_send {
    my @args = @_;
    my $cmd = '*' . scalar(@args) . "\r\n";

    $cmd .= '$' . length($_) . "\r\n$_\r\n" for map { "$_" } @args;
    print {$REDIS_SOCK} $cmd or die "redis_cmd: write: $!\n";
    return redis_reply();
}


sub redis_line {
    my $line = readline($REDIS_SOCK);

    die "redis_cmd: connection closed\n" unless defined $line;
    $line =~ s/\r\n$//;
    return $line;
}


sub redis_reply {
    my $line = redis_line();
    my ($type, $rest) = (substr($line, 0, 1), substr($line, 1));

    return $rest if $type eq '+' || $type eq ':';
    die "$rest\n" if $type eq '-';
    if ($type eq '$') {
        return undef if $rest < 0;
        my $buf = '';
        while (length($buf) < $rest + 2) {
            my $n = read($REDIS_SOCK, $buf, $rest + 2 - length($buf),
                         length($buf));
            die "redis_cmd: connection closed\n" unless $n;
        }
        return substr($buf, 0, $rest);
    }
    if ($type eq '*') {
        return undef if $rest < 0;
        return [map { redis_reply() } 1 .. $rest];
    }
    die "redis_cmd: unexpected reply '$line'\n";
}


# redis_cmd('HGET', '{cast}:count', 'alice'): the reply (a string, undef,
# or an array ref); an error reply dies with its text.
sub redis_cmd {
    my @args = @_;

    redis_connect();
    my $reply = eval { redis_send(@args) };
    if ($@) {
        undef $REDIS_SOCK if $@ =~ /^redis_cmd:/;
        die $@;
    }
    return $reply;
}


# psql_query($sql): the rows as array refs (list context) or the first
# column of the first row (scalar context); dies on an SQL error.
sub psql_query {
    my ($sql) = @_;
    my $dsn = $ENV{CAST_PG_DSN} // die "psql_query: no CAST_PG_DSN\n";
    my $psql = -x '/usr/lib/postgresql/15/bin/psql'
        ? '/usr/lib/postgresql/15/bin/psql' : 'psql';

    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        exec $psql, '-X', '-q', '-A', '-t', '-F', "\t",
            '-v', 'ON_ERROR_STOP=1', '-d', $dsn, '-c', $sql
            or die "exec psql: $!";
    }
    my @lines = <$fh>;
    close $fh;
    die "psql_query: $sql: @lines" if $?;
    chomp @lines;
    my @rows = map { [split /\t/, $_, -1] } @lines;
    return wantarray ? @rows : (@rows ? $rows[0][0] : undef);
}


1;
