# Stub for Proxmox::RS::CalendarEvent: the real one is proxmox-perl-rs
# (common/src/bindings/calendar_event.rs), whose new($class, $event) is `event.parse()` of
# proxmox-time's CalendarEvent. pve-common's PVE::CalendarEvent (format 'pve-calendar-event')
# calls it. Instead of a Perl binding, this runs proxmox-time's real parser through the project's
# Rust harness: `$PVEFB_HARNESS calendar EVENT` exits 0 when it parses, 1 with the parser's
# error on stderr when it does not.
# Anything else (no harness, cannot start it, another exit status) is a failure of the checker,
# not a verdict: it exits 2 (check.pl's contract) rather than die, because PVE::CalendarEvent
# turns any die into "invalid calendar event".
package Proxmox::RS::CalendarEvent;
use strict;
use warnings;

use POSIX ();

sub checker_failure {
    my ($msg) = @_;
    print STDERR "check.pl: Proxmox::RS::CalendarEvent: $msg\n";
    exit 2;
}

sub new {
    my ($class, $event) = @_;

    my $harness = $ENV{PVEFB_HARNESS};
    checker_failure("PVEFB_HARNESS is not set: it must name the Rust harness binary whose"
            . " `calendar EVENT` runs proxmox-time's calendar-event parser")
        if !defined($harness) || $harness eq '';

    # list form, no shell: the event text goes to the harness as one argument, unchanged;
    # the harness's stderr (the parser's error) comes back through the pipe
    my $pid = open(my $out, '-|') // checker_failure("cannot fork: $!");
    if (!$pid) {
        open(STDERR, '>&', \*STDOUT) or POSIX::_exit(127);
        { no warnings 'exec'; exec { $harness } $harness, 'calendar', $event; }
        print STDERR "cannot run '$harness': $!\n";
        POSIX::_exit(127);
    }
    my $msg = do { local $/; <$out> } // '';
    close($out);
    my $status = $?;
    $msg =~ s/\s+\z//;

    return bless { event => $event }, $class if $status == 0;
    die "$msg\n" if $status == (1 << 8); # refused by proxmox-time's parser
    checker_failure("'$harness calendar ...' failed (wait status $status): $msg");
}

# PVE::CalendarEvent::compute_next_event: only the scheduler needs it, the checks never do
sub compute_next_event {
    checker_failure("compute_next_event is not provided (only parsing is checked)");
}

1;
