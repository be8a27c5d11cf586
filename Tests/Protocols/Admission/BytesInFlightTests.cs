using MailServer.Protocols.Admission;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Admission;

/// <summary>The budget of bytes in flight: who is admitted, in which order, and what a wait that runs out leaves.</summary>
[TestFixture]
public sealed class BytesInFlightTests
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(30);

    [Test]
    public async Task A_message_bigger_than_the_whole_budget_is_admitted_alone_and_the_next_waits_for_it()
    {
        var budget = new BytesInFlight(100);
        Assert.That(await budget.AdmitAsync(500, TimeSpan.Zero, CancellationToken.None), Is.True, "alone, whatever its size");
        Assert.That(await budget.AdmitAsync(1, TimeSpan.Zero, CancellationToken.None), Is.False, "no room beside it, no wait");

        var next = budget.AdmitAsync(10, Long, CancellationToken.None);
        Assert.That(next.IsCompleted, Is.False);
        budget.Release(500);
        Assert.That(await next.WaitAsync(Long), Is.True);
        Assert.That(budget.InFlight, Is.EqualTo(10));
    }

    [Test]
    public async Task Waiters_are_admitted_in_the_order_they_came_and_nobody_passes_them()
    {
        var budget = new BytesInFlight(100);
        Assert.That(await budget.AdmitAsync(90, TimeSpan.Zero, CancellationToken.None), Is.True);
        var big = budget.AdmitAsync(80, Long, CancellationToken.None);
        var small = budget.AdmitAsync(5, Long, CancellationToken.None);
        Assert.That(small.IsCompleted, Is.False, "5 would fit beside the 90, but the 80 came first");
        Assert.That(budget.TryAdmit(1), Is.False, "an IMAP literal does not pass the waiters either");

        budget.Release(90);
        Assert.That(await big.WaitAsync(Long), Is.True);
        Assert.That(await small.WaitAsync(Long), Is.True, "80 + 5 fit the budget together");
        Assert.That(budget.InFlight, Is.EqualTo(85));
    }

    [Test]
    public async Task A_wait_that_runs_out_charges_nothing_and_lets_the_ones_behind_it_in()
    {
        var budget = new BytesInFlight(100);
        Assert.That(await budget.AdmitAsync(60, TimeSpan.Zero, CancellationToken.None), Is.True);
        var first = budget.AdmitAsync(50, TimeSpan.FromMilliseconds(200), CancellationToken.None);
        var second = budget.AdmitAsync(30, Long, CancellationToken.None);

        Assert.That(await first.WaitAsync(Long), Is.False, "no room within its wait");
        Assert.That(await second.WaitAsync(Long), Is.True, "30 fits beside the 60 once the 50 stopped waiting");
        Assert.That(budget.InFlight, Is.EqualTo(90));
        Assert.That(budget.Waiting, Is.Zero);
    }

    [Test]
    public async Task A_cancelled_wait_throws_and_charges_nothing()
    {
        var budget = new BytesInFlight(100);
        Assert.That(await budget.AdmitAsync(100, TimeSpan.Zero, CancellationToken.None), Is.True);
        using var cancel = new CancellationTokenSource();
        var waiting = budget.AdmitAsync(10, Long, cancel.Token);
        cancel.Cancel();
        Assert.That(async () => await waiting.WaitAsync(Long), Throws.InstanceOf<OperationCanceledException>());
        budget.Release(100);
        Assert.That(budget.InFlight, Is.Zero);
        Assert.That(budget.Waiting, Is.Zero);
    }
}
