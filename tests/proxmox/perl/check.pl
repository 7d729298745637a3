#!/usr/bin/perl
# Conformance checker: judges what pve-firstboot writes with Proxmox VE's own Perl code, loaded
# unmodified from the source snapshots in $PROXMOX_SRC (see that directory's README.md). Nothing
# of Proxmox's is copied here: every rule applied below lives in their code, cited where called.
#
#   perl tests/proxmox/perl/check.pl KIND ARGS...
#
#   jobs FILE              /etc/pve/jobs.cfg as pve-manager reads and runs it
#   storage FILE [CMDS]    /etc/pve/storage.cfg, then every `pvesm set|add|remove` line and
#                          every `pvesh` disk API line of CMDS applied as pve-storage's API
#                          applies it, written back and parsed again
#                          (the result goes to $PVEFB_STORAGE_OUT when that is set)
#   commands FILE          batch: one shell-quoted qm/pvesm/pct command line per line
#   privfiles CFG ROOT     the secret files pve-storage reads for each storage of CFG, under
#                          ROOT: where its plugins look for them, 0600, in their format
#   firewall DIR           DIR/cluster.fw and/or DIR/host.fw as pve-firewall reads them
#   schedules FILE         batch: one JSON string per line, format 'pve-calendar-event'
#
# Single-input kinds print `ok` (exit 0) or one or more `refused<TAB>REASON` lines (exit 1).
# Batch kinds print exactly one line per input line, `ok` or `refused<TAB>REASON`, and exit 0.
# A REASON is one line (line breaks become ' / '). A failure of the checker itself (a module
# that does not load, a stub that is called, bad usage) exits 2 with the error on stderr: no
# `ok` is ever printed for a check that did not run.
#
# Environment: PROXMOX_SRC (default ../shared/proxmox-src; a relative path is taken from the
# repository root), PVEFB_HARNESS (the Rust harness whose `calendar EVENT` runs proxmox-time's
# parser, for jobs and schedules: see stubs/Proxmox/RS/CalendarEvent.pm), PVEFB_STORAGE_OUT,
# PVEFB_IPSETS_OUT (firewall: the compiled ipsets).
#
# Modules that need a running host or are not built from these sources are replaced by the
# smallest stubs in stubs/ (each says what it replaces and why).

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Spec;
use JSON ();
use Scalar::Util qw(blessed looks_like_number);
use Storable qw(dclone);

# Proxmox's repositories that hold the Perl code the checks load (or that it loads at compile
# time), as laid out in the source snapshot directory. (Set in BEGIN: @INC is set up there.)
my @SOURCE_DIRS;
BEGIN {
    @SOURCE_DIRS = qw(
        pve-common/src
        pve-cluster/src
        pve-storage/src
        pve-guest-common/src
        pve-access-control/src
        pve-manager
        qemu-server/src
        pve-firewall/src
        pve-network/src
        pve-ha-manager/src
        pve-container/src
        pve-apiclient/src
    );
}

sub checker_failure {
    my ($msg) = @_;
    chomp $msg;
    print STDERR "check.pl: $msg\n";
    exit 2;
}

my ($SCRIPT_DIR, $REPO_ROOT);

BEGIN {
    $SCRIPT_DIR = dirname(abs_path(__FILE__));
    $REPO_ROOT = abs_path("$SCRIPT_DIR/../../..");

    my $src = $ENV{PROXMOX_SRC};
    $src = '../shared/proxmox-src' if !defined($src) || $src eq '';
    $src = File::Spec->rel2abs($src, $REPO_ROOT);
    for my $dir (@SOURCE_DIRS) {
        checker_failure("Proxmox sources not found: $src/$dir/PVE is missing (set PROXMOX_SRC)")
            if !-d "$src/$dir/PVE";
    }
    $src = abs_path($src);
    # the PVE::Cluster::IPCConst stand-in generates itself from pve-cluster's sources
    $ENV{PROXMOX_SRC} = $src;

    # stubs first: PVE::IPCC has a real (XS-only) counterpart in pve-cluster that must not load
    unshift @INC, "$SCRIPT_DIR/stubs", map { "$src/$_" } @SOURCE_DIRS;
}

# Verdicts go to the real stdout; anything Proxmox's code prints goes to stderr, so that stdout
# holds verdict lines only.
open(my $VERDICTS, '>&', \*STDOUT) or checker_failure("cannot dup stdout: $!");
$VERDICTS->autoflush(1);
open(STDOUT, '>&', \*STDERR) or checker_failure("cannot redirect stdout: $!");

# ---------------------------------------------------------------------------------------------
# helpers

sub load_modules {
    my (@modules) = @_;
    # The sources target PVE 9's Perl 5.40, where `for my ($k, $v) (...)` is no longer
    # experimental; Debian 12's 5.36 says so at compile time. Only that warning is dropped.
    local $SIG{__WARN__} = sub {
        print STDERR $_[0] if $_[0] !~ /^for my \(\.\.\.\) is experimental at /;
    };
    for my $module (@modules) {
        eval "require $module; 1" or checker_failure("cannot load $module: $@");
    }
}

sub read_text {
    my ($path) = @_;
    open(my $fh, '<', $path) or checker_failure("cannot read '$path': $!");
    my $text = do { local $/; <$fh> };
    close($fh);
    return $text // '';
}

sub input_lines {
    my ($path) = @_;
    return split(/\n/, read_text($path));
}

# An error as one line; a PVE::Exception's per-parameter errors in a stable order.
sub error_text {
    my ($err) = @_;
    my $text;
    if (blessed($err) && $err->isa('PVE::Exception')) {
        $text = $err->{code} ? "$err->{code} $err->{msg}" : "$err->{msg}";
        my $errors = $err->{errors} // {};
        $text .= "\n$_: $errors->{$_}" for sort keys %$errors;
    } else {
        $text = "$err";
    }
    return one_line($text);
}

sub one_line {
    my ($text) = @_;
    $text =~ s/^\s+|\s+$//g;
    $text =~ s/\s*\n\s*/ \/ /g;
    return $text;
}

# Runs Proxmox code, collecting what it warns: pve-common's SectionConfig, pve-firewall's parser
# and qemu-server's parse_* report what they skip only as warnings.
# Returns ($result, $error, [warnings]).
sub capture {
    my ($code) = @_;
    my @warnings;
    local $SIG{__WARN__} = sub { push @warnings, one_line($_[0]) };
    my $result = eval { $code->() };
    my $err = $@ ? error_text($@) : undef;
    return ($result, $err, \@warnings);
}

sub uniq {
    my %seen;
    return grep { !$seen{$_}++ } @_;
}

sub same_value {
    my ($x, $y) = @_;
    return 1 if "$x" eq "$y";
    return looks_like_number($x) && looks_like_number($y) && $x == $y;
}

# POSIX shell word splitting of one recorded command line (what pve-firstboot's log holds:
# plain words and '...' quoting). Handles '...', "...", backslashes and a trailing `# comment`;
# refuses what a shell would not pass through unchanged (unquoted operators, expansions, globs).
# Returns (\@words) or (undef, $error).
sub shell_words {
    my ($line) = @_;
    my @words;
    my $word;
    my $pos = 0;
    my $len = length($line);
    while ($pos < $len) {
        my $c = substr($line, $pos, 1);
        if ($c =~ /\s/) {
            push @words, $word if defined($word);
            undef $word;
            $pos++;
        } elsif ($c eq '#' && !defined($word)) {
            last; # a comment, e.g. "# 123 bytes on stdin, not recorded"
        } elsif ($c eq "'") {
            my $end = index($line, "'", $pos + 1);
            return (undef, "unterminated single quote") if $end < 0;
            $word .= substr($line, $pos + 1, $end - $pos - 1);
            $pos = $end + 1;
        } elsif ($c eq '"') {
            $word //= '';
            $pos++;
            while (1) {
                return (undef, "unterminated double quote") if $pos >= $len;
                my $d = substr($line, $pos, 1);
                last if $d eq '"';
                return (undef, "expansion '$d' inside double quotes") if $d eq '$' || $d eq '`';
                if ($d eq '\\' && $pos + 1 < $len && substr($line, $pos + 1, 1) =~ /[\$`"\\]/) {
                    $d = substr($line, ++$pos, 1);
                }
                $word .= $d;
                $pos++;
            }
            $pos++;
        } elsif ($c eq '\\') {
            return (undef, "backslash at end of line") if $pos + 1 >= $len;
            $word .= substr($line, $pos + 1, 1);
            $pos += 2;
        } elsif ($c =~ /[|&;<>()\$`*?\[]/ || ($c eq '~' && !defined($word))) {
            return (undef, "unquoted shell metacharacter '$c'");
        } else {
            $word .= $c;
            $pos++;
        }
    }
    push @words, $word if defined($word);
    # leading NAME=value words are environment assignments for the command
    shift @words while @words && $words[0] =~ /^[A-Za-z_][A-Za-z0-9_]*=/;
    return (\@words);
}

# ---------------------------------------------------------------------------------------------
# Proxmox's API methods, run up to (not including) the code that acts on a host

# Every API call - from pve-common PVE::RESTHandler::cli_handler (qm/pvesm), or from a direct
# `PVE::API2::X->method($param)` (PVE::RESTHandler::AUTOLOAD) - goes through
# PVE::RESTHandler::handle, which normalizes and validates the parameters against the method's
# schema and then calls the method's `code`. While $code runs, handle runs as usual but calls
# $judges->{'CLASS::METHOD'}->($param) instead of the method's own code: the parameters it gets
# are the ones Proxmox validated. A method without a judge is a checker failure, unless
# $others_ok (then validation alone is the verdict).
sub with_api_judges {
    my ($judges, $others_ok, $code) = @_;
    my $real_handle = \&PVE::RESTHandler::handle;
    no warnings 'redefine';
    local *PVE::RESTHandler::handle = sub {
        my ($self, $info, $param) = @_;
        my $method = "${self}::$info->{name}";
        my $judge = $judges->{$method} // do {
            checker_failure("API method $method reached without a judge") if !$others_ok;
            sub { return undef };
        };
        my $stand_in = { %$info, code => sub { return $judge->($_[0]) } };
        return $real_handle->($self, $stand_in, $param); # no result verification
    };
    return $code->();
}

# The command definition a CLI's argv selects, as pve-common PVE::CLIHandler::resolve_cmd finds
# it (its own copy needs run_cli_handler's module state): names or unique prefixes, one level of
# `alias`. Returns ($def, \@args, $cmdstr) or (undef, $error).
sub resolve_cli_command {
    my ($cli_class, $exe, $argv) = @_;
    my $cmddef = do { no strict 'refs'; ${"${cli_class}::cmddef"} }
        // checker_failure("$cli_class has no \$cmddef");
    my $def = $cmddef;
    my @argv = @$argv;
    my $cmdstr = $exe;
    my $aliased = 0;
    for (my $i = 0; $i < @argv; $i++) {
        my $word = $argv[$i];
        my $name = $word;
        if (!exists($def->{$word})) {
            my @matches = grep {
                index($_, $word) == 0 && !(ref($def->{$_}) eq 'HASH' && $def->{$_}->{alias})
            } keys %$def;
            return (undef, "unknown command '$cmdstr $word'") if @matches != 1;
            $name = $matches[0];
        }
        $cmdstr .= " $name";
        my $next = $def->{$name};
        if (ref($next) eq 'HASH' && defined($next->{alias})) {
            return (undef, "alias loop at '$cmdstr'") if $aliased++;
            splice(@argv, $i, 1, split(/ +/, $next->{alias}));
            ($def, $cmdstr, $i) = ($cmddef, $exe, -1); # and resolve the new argv from the top
            next;
        }
        return ($next, [@argv[$i + 1 .. $#argv]], $cmdstr) if ref($next) eq 'ARRAY';
        $def = $next;
    }
    return (undef, "incomplete command '$cmdstr'");
}

# Runs `EXE ARGV...` as the CLI would up to the API method's code: pve-common
# PVE::RESTHandler::cli_handler (PVE::JSONSchema::get_options with the command's argument names,
# fixed parameters and file/password mappings, then handle's validation), with the judges.
# Returns the reasons it was refused (none = accepted).
# A recorded line whose secret went to the program's stdin ends with the comment
# "# N bytes on stdin, not recorded": the run is judged with N bytes of a stand-in on stdin, so
# that an interactive parameter (pvesm's --password: PVE::CLI::pvesm param_mapping, read by
# PVE::PTY::read_password when stdin is no terminal) gets its line as on the host.
sub with_recorded_stdin {
    my ($line, $code) = @_;
    my ($n) = $line =~ /#\s*(\d+) bytes on stdin/;
    return $code->() if !defined($n);
    my $data = $n > 0 ? ('x' x ($n - 1)) . "\n" : '';
    open(local *STDIN, '<', \$data) or checker_failure("cannot open a stand-in stdin: $!");
    return $code->();
}

sub run_cli {
    my ($cli_class, $exe, $argv, $judges, $others_ok) = @_;

    my ($def, $args, $cmdstr) = resolve_cli_command($cli_class, $exe, $argv);
    return ($args) if !$def; # the error
    my ($class, $name, $arg_param, $fixed_param, undef, $formatter_properties) = @$def;

    # PVE::CLIHandler::run_cli_handler ($gen_param_mapping_func): a CLI class's own
    # param_mapping, as qm's and pvesm's, is the mapping used
    my $param_cb = $cli_class->can('param_mapping')
        // checker_failure("$cli_class has no param_mapping");

    my (undef, $err, $warnings) = capture(sub {
        with_api_judges(
            $judges,
            $others_ok,
            sub {
                $class->cli_handler(
                    $cmdstr,
                    $name,
                    [@$args],
                    $arg_param,
                    $fixed_param,
                    $param_cb,
                    $formatter_properties,
                );
            },
        );
    });
    return (@$warnings, defined($err) ? ($err) : ());
}

# ---------------------------------------------------------------------------------------------
# section config files (jobs.cfg, storage.cfg): what the parser dropped without a warning

# Every `TYPE: ID` section and every property line of $raw must be in the parsed $cfg with the
# same type and (for plain values) the same value; $text_value maps a text value to the parsed
# form where the parser decodes it. Section headers are read with the class's own
# parse_section_header (pve-common PVE::SectionConfig, or the plugin's override).
sub section_config_losses {
    my ($class, $raw, $cfg, $text_value) = @_;
    my @losses;
    my $id;
    for my $line (split(/\n/, $raw)) {
        next if $line =~ /^\s*#/ || $line !~ /\S/;
        if ($line =~ /^\S/) {
            my ($type, $section_id) = $class->parse_section_header($line);
            $id = $section_id;
            next if !defined($id); # not a header: parse_config warned about it
            my $parsed = $cfg->{ids}->{$id};
            if (ref($parsed) ne 'HASH') {
                push @losses, "section '$type: $id' is not in the parsed config";
                undef $id;
            } elsif ($parsed->{type} ne $type) {
                push @losses, "section '$id' has type '$parsed->{type}' once parsed, not '$type'";
                undef $id;
            }
            next;
        }
        next if !defined($id) || $line !~ /^\s+(\S+)(?:\s+(.*?))?\s*$/;
        my ($key, $value) = ($1, $2);
        my $got = $cfg->{ids}->{$id}->{$key};
        if (!defined($got)) {
            push @losses, "property '$key' of section '$id' is not in the parsed config";
            next;
        }
        next if ref($got) || !defined($value);
        $value = $text_value->($key, $value) if $text_value;
        push @losses, "property '$key' of section '$id' is '$got' once parsed, not '$value'"
            if !same_value($got, $value);
    }
    return @losses;
}

# ---------------------------------------------------------------------------------------------
# jobs: /etc/pve/jobs.cfg

sub check_jobs {
    my ($file) = @_;

    # pve-manager PVE/Jobs.pm: registers PVE::Jobs::VZDump (pve-manager, over pve-guest-common
    # PVE::VZDump::JobBase) and PVE::Jobs::RealmSync with PVE::Job::Registry, runs init() and
    # registers jobs.cfg's parser. (Loading PVE::Jobs::VZDump first would make PVE::Jobs,
    # required on the way, register a class not yet compiled; pve-manager loads PVE::Jobs.)
    load_modules('PVE::Jobs', 'PVE::VZDump');

    my $raw = read_text($file);
    my @refused;

    # pve-manager PVE/Jobs.pm: cfs_register_file('jobs.cfg', sub {
    # PVE::Job::Registry->parse_config(@_) }, ...): pve-common PVE::Job::Registry::parse_config
    # over PVE::SectionConfig::parse_config, which warns and skips what it cannot take.
    my ($cfg, $err, $warnings) =
        capture(sub { PVE::Job::Registry->parse_config('/etc/pve/jobs.cfg', $raw) });
    push @refused, @$warnings;
    push @refused, "parse_config: $err" if defined($err);
    return @refused if !$cfg;

    # PVE::Job::Registry::parse_config decodes 'comment' with PVE::Tools::decode_text
    my $text_value = sub {
        my ($key, $value) = @_;
        return $key eq 'comment' ? PVE::Tools::decode_text($value) : $value;
    };
    push @refused, section_config_losses('PVE::Job::Registry', $raw, $cfg, $text_value);

    for my $id (sort keys %{ $cfg->{ids} }) {
        my $job = $cfg->{ids}->{$id};
        next if ref($job) ne 'HASH' || $job->{type} ne 'vzdump';
        push @refused, map { "job '$id': $_" } verify_vzdump_job($id, $job);
    }
    return @refused;
}

# A vzdump job as pve-manager runs it: PVE/Jobs.pm run_jobs takes the schedule out and calls
# the plugin's run($cfg, $id, $schedule); PVE/Jobs/VZDump.pm run keeps the vzdump properties,
# adds job-id and quiet, prints property strings back and calls PVE::API2::VZDump->vzdump, whose
# parameters PVE::RESTHandler validates. Of that method's code only its parameter check runs:
# PVE::VZDump::verify_vzdump_parameters($param, 1) (pve-manager PVE/VZDump.pm), as the method
# and PVE::API2::Backup's create_job/update_job call it. The rest (permissions, guest lists,
# the backup worker) needs a host.
sub verify_vzdump_job {
    my ($id, $job) = @_;
    my $conf = dclone($job);
    my $schedule = delete $conf->{schedule};
    my $plugin = PVE::Job::Registry->lookup('vzdump');
    my $judges = {
        'PVE::API2::VZDump::vzdump' => sub {
            my ($param) = @_;
            PVE::VZDump::verify_vzdump_parameters($param, 1);
            return 'OK';
        },
    };
    my (undef, $err, $warnings) =
        capture(sub { with_api_judges($judges, 0, sub { $plugin->run($conf, $id, $schedule) }) });
    return (@$warnings, defined($err) ? ($err) : ());
}

# ---------------------------------------------------------------------------------------------
# storage: /etc/pve/storage.cfg (+ pvesm set/add)

my $STORAGE_CFG = '/etc/pve/storage.cfg';

# pve-storage PVE/Storage/Plugin.pm: cfs_register_file('storage.cfg', sub {
# __PACKAGE__->parse_config(@_) }, ...): PVE::Storage::Plugin::parse_config over
# PVE::SectionConfig::parse_config, which checks every value against the plugin's schema and
# runs each section's check_config (create, so required options are enforced), warning about
# and skipping what fails; decode_value warns about content types a plugin does not support.
sub parse_storage_cfg {
    my ($raw, $what, $refused) = @_;
    my ($cfg, $err, $warnings) =
        capture(sub { PVE::Storage::Plugin->parse_config($STORAGE_CFG, $raw) });
    push @$refused, map { "$what: $_" } @$warnings;
    push @$refused, "$what: parse_config: $err" if defined($err);
    return $cfg;
}

sub check_storage {
    my ($file, $commands) = @_;

    # pve-storage PVE/Storage.pm registers every plugin and runs PVE::Storage::Plugin->init()
    load_modules('PVE::Storage', 'PVE::API2::Storage::Config', 'PVE::CLI::pvesm');

    # no stale result from an earlier run may pass for this one's
    my $dest = $ENV{PVEFB_STORAGE_OUT};
    unlink($dest) if $dest && -e $dest;

    my $raw = read_text($file);
    my @refused;
    my $cfg = parse_storage_cfg($raw, 'storage.cfg', \@refused);
    return @refused if !$cfg;
    push @refused,
        map { "storage.cfg: $_" } section_config_losses('PVE::Storage::Plugin', $raw, $cfg);

    if (defined($commands)) {
        my $n = 0;
        for my $line (input_lines($commands)) {
            $n++;
            my ($words, $err) = shell_words($line);
            if (!$words) {
                push @refused, "commands line $n: cannot split '$line': $err"
                    if $line =~ /^\s*pvesm\s/;
                next;
            }
            if (@$words >= 2 && $words->[0] eq 'pvesh') {
                push @refused, map { "commands line $n ($line): $_" } apply_pvesh($cfg, $words);
                next;
            }
            next if @$words < 2 || $words->[0] ne 'pvesm' || $words->[1] !~ /^(?:set|add|remove)$/;
            push @refused, map { "commands line $n ($line): $_" }
                with_recorded_stdin($line, sub { apply_pvesm($cfg, $words) });
        }
    }

    # what the API then writes (PVE::Storage::write_config -> the plugin's write_config), and
    # what every later reader gets from it
    my ($out, $err, $warnings) =
        capture(sub { PVE::Storage::Plugin->write_config($STORAGE_CFG, $cfg) });
    push @refused, map { "write_config: $_" } @$warnings;
    if (defined($err)) {
        push @refused, "write_config: $err";
        return @refused;
    }
    my $again = parse_storage_cfg($out, 'storage.cfg as written back', \@refused);
    push @refused, map { "storage.cfg as written back: $_" }
        section_config_losses('PVE::Storage::Plugin', $out, $again)
        if $again;

    if ($dest) {
        open(my $fh, '>', $dest) or checker_failure("cannot write '$dest': $!");
        print $fh $out;
        close($fh) or checker_failure("cannot write '$dest': $!");
    }
    return @refused;
}

# One `pvesm set|add ...` line, through pvesm's command map and PVE::RESTHandler's validation
# of pve-storage PVE/API2/Storage/Config.pm's update/create parameters (updateSchema /
# createSchema of the plugins), then the steps of those methods' code that decide the result,
# applied to $cfg in memory. Left out: the cfs lock, the digest of the file on disk, the
# plugin's on_add_hook/on_update_hook (they act on the host: keys, passwords, volume groups),
# activating the new storage, and the cfs write.
sub apply_pvesm {
    my ($cfg, $words) = @_;
    my $judges = {
        'PVE::API2::Storage::Config::update' => sub {
            my ($param) = @_;
            my $storeid = PVE::Tools::extract_param($param, 'storage');
            PVE::Tools::extract_param($param, 'digest');
            my $delete = PVE::Tools::extract_param($param, 'delete');
            $delete = [PVE::Tools::split_list($delete)] if $delete;

            my $scfg = PVE::Storage::storage_config($cfg, $storeid); # dies if there is none
            my $type = $scfg->{type};
            # sensitive values (passwords, keys) go to the hooks, not to storage.cfg
            PVE::Tools::extract_sensitive_params(
                $param, PVE::Storage::Plugin::sensitive_properties($type), $delete,
            );
            my $plugin = PVE::Storage::Plugin->lookup($type);
            my $opts = $plugin->check_config($storeid, $param, 0, 1);

            my $options = $plugin->private()->{options}->{$type};
            for my $k (@{ $delete // [] }) {
                my $d = $options->{$k} or die "no such option '$k'\n";
                die "unable to delete required option '$k'\n" if !$d->{optional};
                die "unable to delete fixed option '$k'\n" if $d->{fixed};
                die "cannot set and delete property '$k' at the same time!\n"
                    if defined($opts->{$k});
            }
            delete $scfg->{$_} for @{ $delete // [] };
            $scfg->{$_} = $opts->{$_} for keys %$opts;
            return { storage => $storeid, type => $type };
        },
        'PVE::API2::Storage::Config::delete' => sub {
            my ($param) = @_;
            my $storeid = PVE::Tools::extract_param($param, 'storage');
            PVE::Storage::storage_config($cfg, $storeid); # dies if there is none
            delete $cfg->{ids}->{$storeid};
            return undef;
        },
        'PVE::API2::Storage::Config::create' => sub {
            my ($param) = @_;
            my $type = PVE::Tools::extract_param($param, 'type');
            my $storeid = PVE::Tools::extract_param($param, 'storage');
            delete $param->{nodes} if !$param->{nodes};
            PVE::Tools::extract_sensitive_params(
                $param, PVE::Storage::Plugin::sensitive_properties($type), [],
            );
            my $plugin = PVE::Storage::Plugin->lookup($type);
            my $opts = $plugin->check_config($storeid, $param, 1, 1);
            die "storage ID '$storeid' already defined\n"
                if PVE::Storage::storage_config($cfg, $storeid, 1);
            $cfg->{ids}->{$storeid} = $opts;
            return { storage => $storeid, type => $type };
        },
    };
    my @words = @$words;
    shift @words;
    return run_cli('PVE::CLI::pvesm', 'pvesm', \@words, $judges, 0);
}

# ---------------------------------------------------------------------------------------------
# commands: qm / pvesm command lines

# qm create (create_vm) and qm set (update_vm, update_vm_async): after the schema, the checks
# of qemu-server PVE/API2/Qemu.pm that need no host. $resolve_cdrom_alias turns cdrom into
# ide2; $check_drive_param parses every drive with PVE::QemuServer::Drive::parse_drive (the
# '_with_alloc' variant: NEW_DISK_RE sizes allowed) and refuses what it cannot parse;
# update_vm_api parses every netN with PVE::QemuServer::Network::parse_net (here without
# generating a MAC, which would read the cluster's datacenter.cfg); ipconfigN is parsed with
# PVE::QemuServer::Network::parse_ipconfig, as cloud-init reads it. Those parsers warn why.
sub judge_qemu_config {
    my ($param) = @_;
    if (defined(my $cdrom = delete $param->{cdrom})) {
        $param->{ide2} = $cdrom =~ m/media=/ ? $cdrom : "$cdrom,media=cdrom";
    }
    my @bad;
    for my $opt (sort keys %$param) {
        my $value = $param->{$opt};
        if (PVE::QemuServer::Drive::is_valid_drivename($opt)) {
            push @bad, "$opt: unable to parse drive options"
                if !PVE::QemuServer::Drive::parse_drive($opt, $value, 1);
        } elsif ($opt =~ m/^net\d+$/) {
            push @bad, "$opt: unable to parse network options"
                if !PVE::QemuServer::Network::parse_net($value, 1);
        } elsif ($opt =~ m/^ipconfig\d+$/) {
            push @bad, "$opt: unable to parse ipconfig"
                if !PVE::QemuServer::Network::parse_ipconfig($value);
        }
    }
    die join("\n", @bad) . "\n" if @bad;
    return undef;
}

# pct create (create_vm) and pct set (update_vm): after the schema of pve-container's
# PVE::LXC::Config (json_config_properties: every option and its format, mount points,
# networks and features as property strings), what pve-container PVE/API2/LXC.pm checks with no
# host: create_vm's PVE::Tools::validate_ssh_public_keys on the keys pct read from the file
# (ssh-keygen -l on each), every rootfs/mpN parsed by PVE::LXC::Config->parse_volume (a new
# volume as STORAGE:SIZE_IN_GiB) and every netN by parse_lxc_network, as update_pct_config and
# create_disks parse them.
sub judge_lxc_config {
    my ($param) = @_;
    my @bad;
    if (defined(my $keys = $param->{'ssh-public-keys'})) {
        eval { PVE::Tools::validate_ssh_public_keys($keys) };
        push @bad, "ssh-public-keys: $@" if $@;
    }
    for my $opt (sort keys %$param) {
        my $value = $param->{$opt};
        if ($opt eq 'rootfs' || $opt =~ m/^mp\d+$/) {
            push @bad, "$opt: unable to parse the mount point"
                if !PVE::LXC::Config->parse_volume($opt, $value, 1);
        } elsif ($opt =~ m/^net\d+$/) {
            eval { PVE::LXC::Config->parse_lxc_network($value) };
            push @bad, "$opt: $@" if $@;
        } elsif ($opt eq 'features') {
            eval { PVE::LXC::Config->parse_features($value) };
            push @bad, "$opt: $@" if $@;
        }
    }
    die join("\n", @bad) . "\n" if @bad;
    return undef;
}

my %CLI_CLASS = (qm => 'PVE::CLI::qm', pvesm => 'PVE::CLI::pvesm', pct => 'PVE::CLI::pct');

# pvesh on Proxmox's disk API, as the web UI's Node -> Disks calls it: the API method (pve-storage
# PVE/API2/Disks/{LVMThin,Directory,ZFS}.pm `create`, PVE/API2/Disks.pm `wipe_disk`), whose
# parameter schema judges the line (PVE::JSONSchema::validate, as PVE::RESTHandler does before
# a method runs; the path's node is the `node` parameter). Returns the method's parameters.
my %DISK_API = (
    'create lvmthin' => ['PVE::API2::Disks::LVMThin', 'create'],
    'create directory' => ['PVE::API2::Disks::Directory', 'create'],
    'create zfs' => ['PVE::API2::Disks::ZFS', 'create'],
    'set wipedisk' => ['PVE::API2::Disks', 'wipe_disk'],
);

sub judge_pvesh {
    my ($words) = @_;
    my (undef, $verb, $path, @args) = @$words;
    my ($node, $what) = ($path // '') =~ m|^/nodes/([^/]+)/disks/([a-z]+)$|
        or die "not a disk API path: " . ($path // '') . "\n";
    my $api = $DISK_API{"$verb $what"} or die "no disk API method for '$verb $what'\n";
    my ($class, $method) = @$api;
    load_modules($class);
    my $info = $class->map_method_by_name($method) or checker_failure("$class has no $method");
    my $param = { node => $node };
    while (@args) {
        my ($k, $v) = splice(@args, 0, 2);
        die "expected --KEY VALUE, found '$k'\n" if $k !~ /^--([a-z_-]+)$/ || !defined($v);
        $param->{$1} = $v;
    }
    PVE::JSONSchema::validate($param, $info->{parameters}, "pvesh $verb $path: parameters refused\n");
    return ($what, $param);
}

# What `--add_storage 1` of a disk API call adds to storage.cfg: the storage_params the method
# builds (pve-storage PVE/API2/Disks/LVMThin.pm, Directory.pm, ZFS.pm, `create`), created through
# PVE/API2/Storage/Config.pm `create_or_update` -> `create`, judged here by the plugin's
# check_config as that does.
sub apply_pvesh {
    my ($cfg, $words) = @_;
    my ($what, $param) = eval { judge_pvesh($words) };
    return ($@) if $@;
    return () if !$param->{add_storage} || $words->[1] ne 'create';
    my $name = $param->{name};
    my %params = (
        lvmthin => { type => 'lvmthin', vgname => $name, thinpool => $name, content => 'rootdir,images' },
        directory => {
            type => 'dir',
            content => 'rootdir,images,iso,backup,vztmpl,snippets',
            is_mountpoint => 1,
            path => "/mnt/pve/$name",
        },
        zfs => { type => 'zfspool', pool => $name, content => 'rootdir,images' },
    );
    my $p = $params{$what} or return ();
    $p->{nodes} = $param->{node};
    my (undef, $err) = capture(sub {
        my $type = delete $p->{type};
        my $plugin = PVE::Storage::Plugin->lookup($type);
        my $opts = $plugin->check_config($name, $p, 1, 1);
        die "storage ID '$name' already defined\n" if PVE::Storage::storage_config($cfg, $name, 1);
        $cfg->{ids}->{$name} = $opts;
    });
    return defined($err) ? ($err) : ();
}

sub judge_command {
    my ($line) = @_;
    my ($words, $err) = shell_words($line);
    return ("cannot split the command line: $err") if !$words;
    my ($exe, @args) = @$words;
    if (defined($exe) && $exe eq 'pvesh') {
        my (undef, $err) = capture(sub { judge_pvesh($words) });
        return defined($err) ? ($err) : ();
    }
    my $cli_class = defined($exe) ? $CLI_CLASS{$exe} : undef;
    return ('not a qm/pvesm/pct command') if !$cli_class;

    # every other qm/pvesm method: the parameters and their formats are the verdict; the rest
    # of its code needs the host (does VM 101 exist, is the volume there)
    my $judges = {
        'PVE::API2::Qemu::create_vm' => \&judge_qemu_config,
        'PVE::API2::Qemu::update_vm' => \&judge_qemu_config,
        'PVE::API2::Qemu::update_vm_async' => \&judge_qemu_config,
        'PVE::API2::LXC::create_vm' => \&judge_lxc_config,
        'PVE::API2::LXC::Config::update_vm' => \&judge_lxc_config,
    };
    return with_recorded_stdin($line, sub { run_cli($cli_class, $exe, \@args, $judges, 1) });
}

sub check_commands {
    my ($file) = @_;
    # qemu-server PVE/CLI/qm.pm, pve-storage PVE/CLI/pvesm.pm and pve-container PVE/CLI/pct.pm:
    # their $cmddef maps a command to an API method (PVE::API2::Qemu, PVE::API2::Storage::*,
    # PVE::API2::LXC, PVE::API2::LXC::Config, or their own methods)
    load_modules('PVE::CLI::qm', 'PVE::CLI::pvesm', 'PVE::CLI::pct');
    for my $line (input_lines($file)) {
        print_batch_verdict(judge_command($line));
    }
}

# ---------------------------------------------------------------------------------------------
# firewall: cluster.fw / host.fw

# The sections of a .fw file and the entries pve-firewall keeps for each, as
# PVE::Firewall::generic_fw_config_parser names them: which headers a file may have depends on
# its kind (load_clusterfw_conf / load_hostfw_conf pass the sections they allow).
sub firewall_losses {
    my ($raw, $conf, $what, $is_cluster) = @_;
    my @losses;
    my ($section, $name);
    my %rule_lines;
    my %set_lines;
    for my $line (split(/\n/, $raw)) {
        $line =~ s/^\h+|\h+$//g;
        next if $line eq '' || $line =~ /^#/;
        if ($line =~ /^\[(options|rules)\]$/i) {
            ($section, $name) = (lc($1), undef);
        } elsif ($is_cluster && $line =~ /^\[aliases\]$/i) {
            ($section, $name) = ('aliases', undef);
        } elsif ($is_cluster && $line =~ /^\[(group|ipset)\s+(\S+)\]/i) {
            ($section, $name) = (lc($1), lc($2));
        } elsif (!defined($section)) {
            next; # the parser warned: no section
        } elsif ($section eq 'options') {
            my ($opt) = $line =~ /^([^:\s]+)\s*:/;
            push @losses, "$what: option line '$line' is not in the parsed options"
                if !defined($opt)
                || (!exists($conf->{options}->{ lc($opt) }) && !exists($conf->{options}->{$opt}));
        } elsif ($section eq 'aliases') {
            my ($alias) = $line =~ /^(\S+)/;
            push @losses, "$what: alias line '$line' is not in the parsed aliases"
                if !$conf->{aliases}->{ lc($alias) };
        } elsif ($section eq 'rules') {
            $rule_lines{''}++;
        } elsif ($section eq 'group') {
            $rule_lines{$name}++;
        } else {
            $set_lines{$name}++;
        }
    }
    my $rules = $conf->{rules} // [];
    push @losses, sprintf("%s: [RULES] has %d rule lines, %d once parsed", $what,
        $rule_lines{''} // 0, scalar(@$rules))
        if ($rule_lines{''} // 0) != @$rules;
    for my $group (sort grep { $_ ne '' } keys %rule_lines) {
        my $got = scalar(@{ $conf->{groups}->{$group} // [] });
        push @losses, "$what: [group $group] has $rule_lines{$group} rule lines, $got once parsed"
            if $got != $rule_lines{$group};
    }
    for my $set (sort keys %set_lines) {
        my $got = scalar(@{ $conf->{ipset}->{$set} // [] });
        push @losses, "$what: [ipset $set] has $set_lines{$set} entries, $got once parsed"
            if $got != $set_lines{$set};
    }

    # entries kept but marked with errors are skipped when the rules are compiled
    # (PVE::Firewall's ruleset generators: `next if ... $rule->{errors}`)
    my @kept = (['[RULES]', $rules]);
    push @kept, map { ["[group $_]", $conf->{groups}->{$_}] } sort keys %{ $conf->{groups} // {} };
    push @kept, map { ["[ipset $_]", $conf->{ipset}->{$_}] } sort keys %{ $conf->{ipset} // {} };
    for my $k (@kept) {
        my ($where, $entries) = @$k;
        for my $i (0 .. $#$entries) {
            my $errors = $entries->[$i]->{errors} or next;
            push @losses, sprintf("%s: %s entry %d has errors: %s", $what, $where, $i + 1,
                join('; ', map { "$_: $errors->{$_}" } sort keys %$errors));
        }
    }
    return @losses;
}

sub check_firewall {
    my ($dir) = @_;
    load_modules('PVE::Firewall');

    my $cluster_file = "$dir/cluster.fw";
    my $host_file = "$dir/host.fw";
    checker_failure("neither $cluster_file nor $host_file exists")
        if !-f $cluster_file && !-f $host_file;

    # as `pve-firewall compile` does (pve-firewall PVE/Service/pve_firewall.pm): verbose, so
    # errors in rules and ipset entries are warned about instead of going to syslog
    PVE::Firewall::set_verbose(1);

    my @refused;
    my %parse_warnings;
    # PVE::Firewall::load_clusterfw_conf / load_hostfw_conf, through
    # generic_fw_config_parser: a line it cannot take is warned about and skipped. Without a
    # cluster.fw the host rules are parsed against an empty cluster config, as on a host that
    # has none. (A path outside /etc/pve is read from disk, not through pmxcfs.)
    my $parse = sub {
        my ($what, $code) = @_;
        my ($conf, $err, $warnings) = capture($code);
        $parse_warnings{$_} = 1 for @$warnings;
        push @refused, map { "$what: $_" } @$warnings;
        push @refused, "$what: $err" if defined($err);
        return $conf;
    };
    my $cluster_conf =
        $parse->('cluster.fw', sub { PVE::Firewall::load_clusterfw_conf($cluster_file) });
    return @refused if !$cluster_conf;
    push @refused, firewall_losses(read_text($cluster_file), $cluster_conf, 'cluster.fw', 1)
        if -f $cluster_file;

    if (-f $host_file) {
        my $host_conf = $parse->(
            'host.fw', sub { PVE::Firewall::load_hostfw_conf($cluster_conf, $host_file) },
        );
        push @refused, firewall_losses(read_text($host_file), $host_conf, 'host.fw', 0)
            if $host_conf;
    }

    # Then the rules are compiled as `pve-firewall compile` would, in PVE::Firewall::compile's
    # test mode (what pve-firewall's test/fwtester.pl uses: cluster.fw and host.fw read from
    # one directory, no guests). The local network, which the real one derives from the host's
    # address and routes, is pinned as fwtester pins it (to a documentation prefix here). It
    # parses both files again: only what it warns beyond the parse above is new.
    PVE::Firewall::local_network('192.0.2.0/24');
    my ($compiled, $compile_err, $compile_warnings) = capture(sub {
        [PVE::Firewall::compile(undef, undef, { testdir => $dir, qemu => {}, lxc => {} }, undef)];
    });
    push @refused, map { "compile: $_" } grep { !$parse_warnings{$_} } @$compile_warnings;
    push @refused, "compile: $compile_err" if defined($compile_err);
    # With PVEFB_IPSETS_OUT: the compiled ipsets (the second list compile returns, as
    # `pve-firewall compile` prints them: one `create`/`add` command per line), so that a
    # test can see which sources the web UI and ssh are open to.
    if (my $out = $ENV{PVEFB_IPSETS_OUT}) {
        my $ipsets = $compiled ? $compiled->[1] : {};
        open(my $fh, '>', $out) or checker_failure("writing $out: $!");
        for my $name (sort keys %$ipsets) {
            print $fh "$_\n" for @{ $ipsets->{$name} };
        }
        close($fh);
    }
    return @refused;
}

# ---------------------------------------------------------------------------------------------
# schedules: calendar events

sub check_schedules {
    my ($file) = @_;
    # pve-common PVE/CalendarEvent.pm registers format 'pve-calendar-event'
    # (pve_verify_calendar_event: trim, then Proxmox::RS::CalendarEvent->new)
    load_modules('PVE::JSONSchema', 'PVE::CalendarEvent');
    my $json = JSON->new->allow_nonref;
    for my $line (input_lines($file)) {
        my $value = eval { $json->decode($line) };
        if (!defined($value) || ref($value)) {
            print_batch_verdict('input line is not a JSON string');
            next;
        }
        my (undef, $err, $warnings) =
            capture(sub { PVE::JSONSchema::check_format('pve-calendar-event', $value) });
        print_batch_verdict(@$warnings, defined($err) ? ($err) : ());
    }
}

# ---------------------------------------------------------------------------------------------

sub print_verdict {
    my (@reasons) = @_;
    if (!@reasons) {
        print $VERDICTS "ok\n";
    } else {
        print $VERDICTS "refused\t" . one_line($_) . "\n" for @reasons;
    }
    return !@reasons;
}

# a batch prints one line per item
sub print_batch_verdict {
    my (@reasons) = @_;
    print $VERDICTS @reasons ? "refused\t" . join(' / ', map { one_line($_) } @reasons) . "\n"
        : "ok\n";
}

# ---------------------------------------------------------------------------------------------
# privfiles: the secret files of storage.cfg's storages, where pve-storage reads them

# For each storage of CFG (as parsed by pve-storage) that needs a secret, the path its plugin
# reads it from, taken from the plugin itself: CIFS with a username, PVE::Storage::CIFSPlugin
# cifs_cred_file_name (mount.cifs' credentials file, `password=...`); PBS,
# PVE::Storage::PBSPlugin pbs_password_file_name (the first line), and where a key file is
# there, pbs_encryption_key_file_name (JSON with a `data` member, as on_add_hook demands).
# Each must exist under ROOT, a regular file of mode 0600 (what pmxcfs shows for priv/).
sub check_privfiles {
    my ($file, $root) = @_;
    load_modules('PVE::Storage');
    my @refused;
    my $cfg = parse_storage_cfg(read_text($file), 'storage.cfg', \@refused);
    return @refused if !$cfg;
    my $n = 0;
    my $need = sub {
        my ($id, $path, $what, $ok) = @_;
        $n++;
        my $at = "$root$path";
        if (!-f $at || -l $at) {
            push @refused, "$id: no $what at $path";
            return;
        }
        my $mode = (stat($at))[2] & 07777;
        push @refused, sprintf("%s: %s is mode %04o, not 0600", $id, $path, $mode)
            if $mode != 0600;
        my $text = read_text($at);
        push @refused, "$id: $path is not $what" if !$ok->($text);
    };
    for my $id (sort keys %{ $cfg->{ids} }) {
        my $scfg = $cfg->{ids}->{$id};
        if ($scfg->{type} eq 'cifs' && defined($scfg->{username})) {
            $need->($id, PVE::Storage::CIFSPlugin::cifs_cred_file_name($id),
                'a credentials file', sub { $_[0] =~ /\Apassword=[^\n]+\n\z/ });
        } elsif ($scfg->{type} eq 'pbs') {
            $need->($id, PVE::Storage::PBSPlugin::pbs_password_file_name($scfg, $id),
                'a password file', sub { $_[0] =~ /\A[^\n]+\n\z/ });
            my $enc = PVE::Storage::PBSPlugin::pbs_encryption_key_file_name($scfg, $id);
            $need->($id, $enc, 'an encryption key', sub {
                my $key = eval { JSON::decode_json($_[0]) };
                return ref($key) eq 'HASH' && exists($key->{data});
            }) if -e "$root$enc";
        }
    }
    push @refused, "no storage of $file needs a secret file" if !$n;
    return @refused;
}

sub usage {
    checker_failure("usage: check.pl jobs FILE | storage FILE [COMMANDS] | commands FILE"
            . " | firewall DIR | schedules FILE | privfiles CFG ROOT");
}

sub main {
    my ($kind, @args) = @_;
    usage() if !defined($kind);
    my %single = (
        jobs => [1, 1, \&check_jobs],
        storage => [1, 2, \&check_storage],
        firewall => [1, 1, \&check_firewall],
        privfiles => [2, 2, \&check_privfiles],
    );
    my %batch = (
        commands => \&check_commands,
        schedules => \&check_schedules,
    );
    if (my $spec = $single{$kind}) {
        my ($min, $max, $check) = @$spec;
        usage() if @args < $min || @args > $max;
        # the same warning can come up more than once (e.g. for each section after a skipped one)
        exit(print_verdict(uniq($check->(@args))) ? 0 : 1);
    } elsif (my $check = $batch{$kind}) {
        usage() if @args != 1;
        $check->(@args);
        exit 0;
    }
    usage();
}

main(@ARGV);
