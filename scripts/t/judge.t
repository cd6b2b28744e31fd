#!/usr/bin/perl
# The judge's own tests (prove scripts/t): made-up boots, each with one
# defect the judge must catch, and kernel logs for scripts/kernel-log-judge.
use strict;
use warnings;
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use Test::More;

my $scripts = dirname(dirname(__FILE__ =~ m{/} ? __FILE__ : "./" . __FILE__));
my $tmp = tempdir(CLEANUP => 1);
my @series = map { s{.*/}{}r } grep { !/0000-/ } glob("$scripts/../patches/0*.patch");
# The fixes scripts/expect/fixes names, found by their patch file names.
my ($copy) = grep { /page-offset-and-buffer-advance/ } @series;
ok($copy, "the rxe copy fix is in patches/");
my @stock = ();
my @no_copy = grep { $_ ne $copy } @series;

sub spew { my ($f, $s) = @_; open(my $fh, '>', $f) or die "$f: $!"; print $fh $s; close $fh }

my $n = 0;
# boot(series => [...], files => {name => content}, conf => {...}, ...): a dir
sub boot {
	my %a = @_;
	my $d = "$tmp/b" . ++$n;
	make_path($d);
	my %conf = (label => "t$n", suites => 'ibv', progs => 'odp_x', expect => 'clean',
		    %{$a{conf} // {}});
	spew("$d/judge.conf", join("", map { "$_=$conf{$_}\n" } sort keys %conf));
	spew("$d/kernel-series", join("", map { "$_\n" } @{$a{series} // \@series}));
	spew("$d/status", ($a{status} // 0) . "\n");
	spew("$d/vm-run.rc", ($a{rc} // 0) . "\n");
	spew("$d/verdict", $a{verdict} // "timeout=0\n");
	spew("$d/$_", $a{files}{$_}) for keys %{$a{files} // {}};
	return $d;
}

# judge(dir) -> (exit status, output)
sub judge {
	my $out = `$scripts/judge @_ 2>&1`;
	return ($? >> 8, $out);
}

my $list = "a\tneeds=-\nb\tneeds=copy\nc\tneeds=uffd\n";
my $good = "TAP version 13\n1..3\nok 1 a\n# step: WRITE: 5 of 9000 bytes differ\nnot ok 2 b\n"
	. "# step: completion status remote access error\nnot ok 3 c\n";
my %prog = ('ibv-odp_x.list' => $list);

# A clean patched boot where everything passes.
my ($rc, $out) = judge(boot(files => { %prog, 'ibv-odp_x.exit' => "0\n",
	'ibv-odp_x.tap' => "1..3\nok 1 a\nok 2 b\nok 3 c\n" }));
is($rc, 0, "all pass on the patched kernel") or diag $out;
like($out, qr/^5 passed, 0 failed, 0 skipped$/m, "closing line counts them");

# Stock: the guards fail with their signatures.
($rc, $out) = judge(boot(series => \@stock, files => { %prog, 'ibv-odp_x.exit' => "1\n",
	'ibv-odp_x.tap' => $good }));
is($rc, 0, "stock: guards fail with their signatures") or diag $out;

# A skip is not a pass.
($rc, $out) = judge(boot(files => { %prog, 'ibv-odp_x.exit' => "0\n",
	'ibv-odp_x.tap' => "1..3\nok 1 a\nok 2 b # SKIP no rxe1\nok 3 c\n" }));
is($rc, 1, "an undeclared skip fails");
like($out, qr/FAIL: .*odp_x\.b: unexpected skip \(no rxe1\)/, "and says so");

# A truncated TAP file (the program died halfway).
($rc, $out) = judge(boot(files => { %prog, 'ibv-odp_x.exit' => "1\n",
	'ibv-odp_x.tap' => "1..3\nok 1 a\n" }));
is($rc, 1, "a truncated TAP file fails");
like($out, qr/plan says 3 tests, 1 ran/, "with the plan mismatch named");

# Killed (OOM, crash): exit status 137, even with every line "ok".
($rc, $out) = judge(boot(files => { %prog, 'ibv-odp_x.exit' => "137\n",
	'ibv-odp_x.tap' => "1..3\nok 1 a\nok 2 b\nok 3 c\n" }));
is($rc, 1, "a killed program fails");
like($out, qr/exit status 137/, "with its status");

# Timed out.
($rc, $out) = judge(boot(files => { %prog, 'ibv-odp_x.exit' => "124\n",
	'ibv-odp_x.tap' => "1..3\nok 1 a\nok 2 b\nok 3 c\n" }));
like($out, qr/FAIL: .*timed out/, "a timeout fails");

# Exit 1 with no failure printed.
($rc, $out) = judge(boot(files => { %prog, 'ibv-odp_x.exit' => "1\n",
	'ibv-odp_x.tap' => "1..3\nok 1 a\nok 2 b\nok 3 c\n" }));
like($out, qr/exit status 1 but no result is 'not ok'/, "an exit status the TAP does not explain fails");

# No exit status: the program never finished.
($rc, $out) = judge(boot(files => { %prog, 'ibv-odp_x.tap' => "1..3\nok 1 a\nok 2 b\nok 3 c\n" }));
like($out, qr/no exit status/, "a missing exit status fails");

# Every TAP file of a suite is judged: rel has two programs.
($rc, $out) = judge(boot(conf => { suites => 'rel' }, files => {
	'ibv-rel_teardown.list' => "a\tneeds=-\n", 'ibv-rel_teardown.exit' => "0\n",
	'ibv-rel_teardown.tap' => "1..1\nok 1 a\n" }));
like($out, qr/FAIL: .*rel_storm: no TAP/, "a suite's missing TAP file fails (rel_storm)");

# A guard that fails with the wrong signature.
($rc, $out) = judge(boot(series => \@no_copy, files => { %prog, 'ibv-odp_x.exit' => "1\n",
	'ibv-odp_x.tap' => "1..3\nok 1 a\n# step: setup: ibv_open_device: No such device\nnot ok 2 b\nok 3 c\n" }));
is($rc, 1, "a guard failing with the wrong signature fails");
like($out, qr/odp_x\.b fails without copy but not with its signature/, "and names the fix");

# A guard that passes without its fix does not guard it.
($rc, $out) = judge(boot(series => \@no_copy, files => { %prog, 'ibv-odp_x.exit' => "0\n",
	'ibv-odp_x.tap' => "1..3\nok 1 a\nok 2 b\nok 3 c\n" }));
like($out, qr/odp_x\.b passes without copy: it does not guard that fix/, "a guard passing without its fix fails");

# The same test on a kernel without copy, with its signature: a pass.
($rc, $out) = judge(boot(series => \@no_copy, files => { %prog, 'ibv-odp_x.exit' => "1\n",
	'ibv-odp_x.tap' => "1..3\nok 1 a\n# step: WRITE: 5 of 9000 bytes differ\nnot ok 2 b\nok 3 c\n" }));
is($rc, 0, "no-copy kernel: only the copy guard fails, with its signature") or diag $out;

# A kernel not built from the series ("%upstream"): the fixes of its own
# that scripts/expect/fixes gives it (uffd, not copy).
($rc, $out) = judge(boot(series => ['%upstream'], files => { %prog, 'ibv-odp_x.exit' => "1\n",
	'ibv-odp_x.tap' => "1..3\nok 1 a\n# step: WRITE: 5 of 9000 bytes differ\nnot ok 2 b\nok 3 c\n" }));
is($rc, 0, "upstream: has uffd, lacks copy") or diag $out;
($rc, $out) = judge(boot(series => ['%upstream'], files => { %prog, 'ibv-odp_x.exit' => "1\n",
	'ibv-odp_x.tap' => $good }));
like($out, qr/FAIL: .*odp_x\.c/, "upstream: a test that needs only uffd must pass");
# The series on 7.3 (patched-73): upstream's fixes and those of its patches.
($rc, $out) = judge(boot(series => ['%upstream', $copy], files => { %prog, 'ibv-odp_x.exit' => "1\n",
	'ibv-odp_x.tap' => "1..3\nok 1 a\n# step: WRITE: 5 of 9000 bytes differ\nnot ok 2 b\nok 3 c\n" }));
like($out, qr/FAIL: /, "upstream with the copy patch: a copy failure fails");
($rc, $out) = judge(boot(series => ['%upstream', $copy], files => { %prog, 'ibv-odp_x.exit' => "0\n",
	'ibv-odp_x.tap' => "1..3\nok 1 a\nok 2 b\nok 3 c\n" }));
is($rc, 0, "upstream with the copy patch: has uffd and copy") or diag $out;
# A fix with two alternatives (resume: the 7.2 patch, or the two 7.3
# patches): either one complete is the fix, a part of the other is not.
my ($resume72) = grep { /resume-hmm_range_fault_unlockable/ } @series;
ok($resume72, "the 7.2 resume patch is in patches/");
my @resume73 = map { s{.*/}{}r } grep { /resume-w|resume-ODP-faults/ } glob("$scripts/../patches/7.3/0*.patch");
is(scalar @resume73, 2, "the two 7.3 resume patches are in patches/7.3/");
my %rprog = ('ibv-odp_x.list' => "a\tneeds=-\nd\tneeds=uffd,resume\n");
my $rtimeout = "1..2\nok 1 a\nnot ok 2 d # TIMEOUT after 900 s in step: PREFETCH_WRITE\n";
for my $case ([[ '%upstream' ], 'upstream 7.3'], [[ '%upstream', $resume73[0] ], '7.3 with one of the two patches']) {
	($rc, $out) = judge(boot(series => $case->[0], files => { %rprog, 'ibv-odp_x.exit' => "1\n",
		'ibv-odp_x.tap' => $rtimeout }));
	is($rc, 0, "$case->[1]: lacks resume, its guard times out") or diag $out;
}
for my $case ([[ '%upstream', @resume73 ], '7.3 with both 7.3 patches'], [\@series, 'the 7.2 series']) {
	($rc, $out) = judge(boot(series => $case->[0], files => { %rprog, 'ibv-odp_x.exit' => "1\n",
		'ibv-odp_x.tap' => $rtimeout }));
	like($out, qr/FAIL: .*odp_x\.d/, "$case->[1]: has resume, its guard must pass");
}
($rc, $out) = judge(boot(series => [grep { $_ ne $resume72 } @series], files => { %rprog,
	'ibv-odp_x.exit' => "1\n", 'ibv-odp_x.tap' => $rtimeout }));
is($rc, 0, "the 7.2 series without its resume patch lacks resume") or diag $out;
my @no_uffd = `$scripts/judge --series no-uffd`;
ok(!grep({ /resume/ } @no_uffd), "a guard kernel drops the 7.2 alternative of a fix");

# hmm-tests-73 on 7.3: the resume tests skip on upstream, whose test_hmm
# has no HMM_DMIRROR_READ_UNLOCKED_RESUME, and must run on the series.
my @series73 = map { s{.*/}{}r } grep { !/0000-/ } glob("$scripts/../patches/7.3/0*.patch");
ok((grep { /test_hmm-selftests-mm-test-unlocked-reads/ } @series73), "the test_hmm patch is in patches/7.3/");
my $hmm_skip = "TAP version 13\n1..2\nok 1 hmm_uffd.shmem_missing.read_unlocked\n"
	. "# SKIP      HMM_DMIRROR_READ_UNLOCKED_RESUME not in this kernel\n"
	. "ok 2 hmm_uffd.shmem_missing.read_unlocked_resume # SKIP HMM_DMIRROR_READ_UNLOCKED_RESUME not in this kernel\n";
my %hmm = (conf => { suites => 'hmm' }, files => { 'hmm.exit' => "0\n", 'hmm.tap' => $hmm_skip });
($rc, $out) = judge(boot(series => ['%upstream'], %hmm));
is($rc, 0, "upstream: the resume tests of hmm-tests-73 skip") or diag $out;
like($out, qr/^3 passed, 0 failed, 1 skipped$/m, "upstream: the skip is an expected one");
($rc, $out) = judge(boot(series => ['%upstream', @series73], %hmm));
like($out, qr/FAIL: .*read_unlocked_resume: unexpected skip/, "patched-73: the resume tests must not skip");
($rc, $out) = judge(boot(series => ['%upstream', @series73], conf => { suites => 'hmm' },
	files => { 'hmm.exit' => "0\n", 'hmm.tap' => "TAP version 13\n1..1\n"
		   . "ok 1 hmm_uffd.hugetlb_missing.read_unlocked_resume_invalidate\n" }));
is($rc, 0, "patched-73: the resume tests pass") or diag $out;
($rc, $out) = judge(boot(series => ['%nosuch'], files => { %prog, 'ibv-odp_x.exit' => "0\n",
	'ibv-odp_x.tap' => "1..3\nok 1 a\nok 2 b\nok 3 c\n" }));
like($out, qr/no "kernel nosuch" rule/, "a kernel without a rule fails");

# Our runner's "# TIMEOUT after N s" after a name is not part of the name.
($rc, $out) = judge(boot(series => \@no_copy, files => { %prog, 'ibv-odp_x.exit' => "1\n",
	'ibv-odp_x.tap' => "1..3\nok 1 a\nnot ok 2 b # TIMEOUT after 9 s in x; 5 of 9 bytes differ\nok 3 c\n" }));
like($out, qr/PASS: .*odp_x\.b fails without copy/, "a comment after the name keeps the name");

# A test missing from the program's -l list.
($rc, $out) = judge(boot(files => { %prog, 'ibv-odp_x.exit' => "0\n",
	'ibv-odp_x.tap' => "1..4\nok 1 a\nok 2 b\nok 3 c\nok 4 d\n" }));
like($out, qr/odp_x\.d: not in the program's -l list/, "an unlisted test fails");

# The rdma-core suite's timeout is seen.
($rc, $out) = judge(boot(conf => { suites => 'rdma-core' }, files => {
	'rdma-core.exit' => "124\n", 'rdma-core.tap' => "ok 1 t1\n1..1\n" }));
like($out, qr/rdma-core .*timed out/, "rdma-core's timeout fails");

# A guest whose setup failed.
($rc, $out) = judge(boot(status => 'guest-setup-failed', rc => 1,
	files => { 'setup-error' => "rxe1 over lo: 'rdma link add' failed\n" }));
like($out, qr/FAIL: .*guest setup failed: rxe1 over lo/, "a failed guest setup fails the boot");

# Harness expectations: a provoked report must fail the run for that reason.
($rc, $out) = judge(boot(conf => { expect => 'report:BUG: KASAN' }, rc => 1,
	files => { 'kernel-reports.txt' => "WARNING: CPU: 0 PID: 1 at x\n" }));
like($out, qr/FAIL: harness: .*expected a failed run with a kernel report matching/,
     "a provoked KASAN report that shows as something else is a failure");
($rc, $out) = judge(boot(conf => { expect => 'timeout' }, rc => 0));
like($out, qr/FAIL: harness: .*hung guest did not fail/, "a hang that does not fail the run is caught");

# kernel-log-judge: the kernel's log, not the tests' output.
my $kl = "$scripts/kernel-log-judge";
spew("$tmp/console.log", "# test printed WARNING: this is not the kernel\n"
	. "[    1.000000] rxe: loaded\n");
spew("$tmp/dmesg.txt", "[    1.000000] rxe: loaded\n");
is(system("$kl $tmp/dmesg.txt $tmp/console.log >/dev/null"), 0, "a test printing WARNING: is not a kernel report");
for my $r ("[    5.000000] stress invoked oom-killer: gfp_mask=0x140dca",
	   "[    5.000000] kworker/0:1: page allocation failure: order:4, mode:0x40cc0",
	   "[    5.000000] Watchdog detected hard LOCKUP on cpu 1",
	   "[    5.000000] watchdog: BUG: soft lockup - CPU#0 stuck for 22s!",
	   "[    5.000000] something odd\n[    5.000001] CPU: 1 UID: 0 PID: 7 Comm: x\n[    5.000002] Call Trace:") {
	spew("$tmp/dmesg.txt", "$r\n");
	isnt(system("$kl $tmp/dmesg.txt >/dev/null"), 0, "reported: " . ($r =~ s/.*\n//sr =~ s/^\[[^]]*\] //r));
}
spew("$tmp/dmesg.txt", "[ 5.0] FAULT_FLAG_ALLOW_RETRY missing 0x0\n[ 5.1] CPU: 1 UID: 0 PID: 7 Comm: x\n[ 5.2] Call Trace:\n");
is(system("$kl $tmp/dmesg.txt >/dev/null"), 0, "the stack dump hmm-tests provokes on purpose is not a report");
spew("$tmp/dmesg.txt", "[ 5.0] sysrq: Show Blocked State\n[ 5.1] task:tee             state:D stack:0     pid:131\n[ 5.2] Call Trace:\n");
is(system("$kl $tmp/dmesg.txt >/dev/null"), 0, "the blocked tasks rel_teardown asks sysrq-w for are not a report");

done_testing();
