using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using MailServer.Rules.FlowRules;
using MailServer.Rules.Hooks;
using MailServer.Server.Hooks;
using Microsoft.Extensions.Logging.Abstractions;
using NUnit.Framework;
using static MailServer.Rules.FlowRules.FlowAction;
using Reply = MailServer.Tests.Rules.Hooks.LoopbackHookReceiver.Reply;

namespace MailServer.Tests.Rules.Hooks;

/// <summary>The HTTP hook client against a real receiver on loopback: signature, timeout, retries with the same invocation, fallback.</summary>
[TestFixture]
public sealed class HookClientTests
{
    private const string Secret = "hook-secret-for-tests";
    private const string AllDefault = """{"actions":[{"action":{"type":"DEFAULT"},"allRecipients":true}]}""";

    private readonly HttpClient _http = HookClient.CreateHttpClient();

    [OneTimeTearDown]
    public void DisposeHttp() => _http.Dispose();

    private HookClient Client(TimeSpan? callTimeout = null, TimeSpan? ruleTimeout = null) => new(_http, new HookClientOptions
    {
        CallTimeout = callTimeout ?? TimeSpan.FromSeconds(5),
        InitialBackoff = TimeSpan.FromMilliseconds(20),
        MaxBackoff = TimeSpan.FromMilliseconds(80),
        RuleTimeout = h => h.RuleTimeoutMinutes == 0 ? TimeSpan.Zero : ruleTimeout ?? TimeSpan.FromSeconds(10),
    }, TimeProvider.System, NullLogger<HookClient>.Instance);

    private static HookEvent Event() => new("from@else.test", ["a@example.test", "b@example.test"], null, "Subject",
        Guid.NewGuid(), HookEventJson.NewInvocationId(), FlowDirection.Inbound);

    private static HookResponseContext Context(FlowAction fallback = MoveToJunk) =>
        new(FlowDirection.Inbound, ["a@example.test", "b@example.test"], fallback, a => a.EndsWith("@example.test", StringComparison.Ordinal));

    private static HookDefinition Hook(Uri url, int timeoutMinutes = 1, string? secret = Secret) => new(url, true, MoveToJunk, timeoutMinutes, secret);

    [Test]
    public async Task The_request_is_the_event_json_signed_with_hmac_sha256_over_the_body()
    {
        using var receiver = new LoopbackHookReceiver((_, _) => new Reply(200, AllDefault));
        var e = Event();
        var decided = await Client().RunSynchronousAsync("scan", Hook(receiver.Url), e, Context(), CancellationToken.None);
        var request = receiver.Requests.Single();
        var expected = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(Secret), request.Body));
        using var doc = JsonDocument.Parse(request.Body);
        Assert.Multiple(() =>
        {
            Assert.That(request.Body, Is.EqualTo(HookEventJson.Serialize(e)));
            Assert.That(request.Signature, Is.EqualTo(expected));
            Assert.That(request.InvocationId, Is.EqualTo(e.InvocationId));
            Assert.That(request.ContentType, Does.StartWith("application/json"));
            Assert.That(doc.RootElement.GetProperty("invocationId").GetString(), Is.EqualTo(e.InvocationId));
            Assert.That(decided.Recipients.Select(r => (r.Action, r.Source)), Is.All.EqualTo((Default, HookActionSource.AllRecipients)));
        });
    }

    [Test]
    public async Task Without_a_secret_no_signature_is_sent()
    {
        using var receiver = new LoopbackHookReceiver((_, _) => new Reply(200, AllDefault));
        await Client().RunSynchronousAsync("scan", Hook(receiver.Url, secret: null), Event(), Context(), CancellationToken.None);
        Assert.That(receiver.Requests.Single().Signature, Is.Null);
    }

    [Test]
    public async Task Failures_are_retried_with_the_same_invocation_and_backoff_until_one_answers()
    {
        // 500, then an invalid body, then a timeout, then a decision.
        using var receiver = new LoopbackHookReceiver((n, _) => n switch
        {
            1 => new Reply(500, "oops"),
            2 => new Reply(200, "{\"actions\":[{\"action\":{\"type\":\"EXPLODE\"},\"allRecipients\":true}]}"),
            3 => new Reply(200, AllDefault, TimeSpan.FromSeconds(2)),
            _ => new Reply(200, """{"actions":[{"action":{"type":"DROP"},"recipients":["b@example.test"]},{"action":{"type":"DEFAULT"},"allRecipients":true}]}"""),
        });
        var e = Event();
        var decided = await Client(callTimeout: TimeSpan.FromMilliseconds(500)).RunSynchronousAsync("scan", Hook(receiver.Url), e, Context(), CancellationToken.None);
        var requests = receiver.Requests.ToList();
        Assert.Multiple(() =>
        {
            Assert.That(requests, Has.Count.EqualTo(4));
            Assert.That(requests.Select(r => r.InvocationId).Distinct(), Is.EqualTo(new[] { e.InvocationId }));
            Assert.That(requests.Select(r => Convert.ToBase64String(r.Body)).Distinct().Count(), Is.EqualTo(1), "every retry posts the same bytes");
            Assert.That(decided.Recipients.Select(r => (r.Recipient, r.Action)), Is.EqualTo(new[] { ("a@example.test", Default), ("b@example.test", Drop) }));
            Assert.That(requests[2].At - requests[1].At, Is.GreaterThanOrEqualTo(requests[1].At - requests[0].At - TimeSpan.FromMilliseconds(15)),
                "the delay does not shrink");
        });
    }

    [Test]
    public async Task Rule_timeout_zero_means_one_attempt_then_the_fallback_for_every_recipient()
    {
        using var receiver = new LoopbackHookReceiver((_, _) => new Reply(503, ""));
        var decided = await Client().RunSynchronousAsync("scan", Hook(receiver.Url, timeoutMinutes: 0), Event(), Context(Bounce), CancellationToken.None);
        Assert.Multiple(() =>
        {
            Assert.That(receiver.Requests, Has.Count.EqualTo(1));
            Assert.That(decided.Recipients.Select(r => (r.Action, r.Source)), Is.All.EqualTo((Bounce, HookActionSource.Fallback)));
        });
    }

    [Test]
    public async Task After_the_rule_timeout_the_fallback_applies()
    {
        using var receiver = new LoopbackHookReceiver((_, _) => new Reply(200, "not json"));
        var decided = await Client(ruleTimeout: TimeSpan.FromMilliseconds(400))
            .RunSynchronousAsync("scan", Hook(receiver.Url), Event(), Context(MoveToJunk), CancellationToken.None);
        Assert.Multiple(() =>
        {
            Assert.That(receiver.Requests, Has.Count.GreaterThan(2), "retried within the window");
            Assert.That(decided.Recipients.Select(r => r.Action), Is.All.EqualTo(MoveToJunk));
        });
    }

    [Test]
    public async Task An_unreachable_hook_fails_the_call()
    {
        int port;
        using (var l = new TcpListener(IPAddress.Loopback, 0))
        {
            l.Start();
            port = ((IPEndPoint)l.LocalEndpoint).Port;
        }
        var result = await Client().CallAsync(Hook(new Uri($"http://127.0.0.1:{port}/")), [1], "x", CancellationToken.None);
        Assert.That(result, Is.TypeOf<HookCallResult.Failed>());
    }

    [Test]
    public async Task A_redirect_is_not_followed()
    {
        using var receiver = new LoopbackHookReceiver((_, _) => new Reply(302, ""));
        var result = await Client().CallAsync(Hook(receiver.Url), [1], "x", CancellationToken.None);
        Assert.That(result, Is.EqualTo(new HookCallResult.Failed("HTTP 302")));
    }

    [Test]
    public async Task An_async_hook_fires_once_and_its_answer_is_ignored()
    {
        using var receiver = new LoopbackHookReceiver((_, _) => new Reply(500, ""));
        var hook = new HookDefinition(receiver.Url, false, Default, 0, Secret);
        await Client().FireAsync("metrics", hook, Event(), CancellationToken.None);
        Assert.That(receiver.Requests, Has.Count.EqualTo(1));
    }
}
