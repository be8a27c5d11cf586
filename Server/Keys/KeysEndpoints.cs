using MailServer.Server.Admin;
using MailServer.Server.Configuration;
using MailServer.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.Keys;

/// <summary>A backup request: the target folder and, for <c>--include-keys</c>, the passphrase (never logged).</summary>
public sealed record BackupRequest(string To, string? Passphrase);

/// <summary>A mailbox key rotation request; <c>Wait</c> false answers 202 at once.</summary>
public sealed record MailboxRotateRequest(string Address, bool Wait = true);

/// <summary>A mailbox deletion request.</summary>
public sealed record MailboxDeleteRequest(string Address);

/// <summary>
/// Keys and mailbox deletion on the admin listener (token required), on either store engine; the <c>mailserver keys</c>
/// and <c>mailbox delete</c> verbs call these while the server runs:
/// <c>GET /admin/keys/status[?org=ALIAS]</c>, <c>POST /admin/keys/rotate?org=ALIAS</c> (202, runs in the background),
/// <c>POST /admin/keys/rotate-mailbox</c> <c>{"address","wait"}</c> (the result when it ends; 202 with <c>wait</c> false),
/// <c>POST /admin/mailboxes/delete</c> <c>{"address"}</c> (backups: <see cref="BackupEndpoints"/>).
/// Errors: 400 with <c>{"error"}</c> for bad input, 404 for an unknown mailbox, 409 when the provider cannot create a key version.
/// </summary>
internal sealed class KeysEndpoints(IKeyAdministrationStore store, ConfigMonitor monitor, KeyRotationService rotations, ILogger<KeysEndpoints> logger) : IAdminEndpoints
{
    private IKeyAdministrationStore Store => store;

    public void Map(IEndpointRouteBuilder endpoints)
    {
        var group = endpoints.MapGroup("/admin").RequireAdminToken();
        group.MapGet("/keys/status", (string? org) =>
        {
            try { return Results.Json(KeyAdministration.Status(Store, monitor.Config, org, rotations.Rotations, rotations.MailboxRotations)); }
            catch (ArgumentException e) { return Results.Json(new { error = e.Message }, statusCode: StatusCodes.Status400BadRequest); }
        });
        group.MapPost("/keys/rotate", (string? org) =>
        {
            try
            {
                var target = KeyAdministration.Organizations(monitor.Config, org ?? throw new ArgumentException("org is required"));
                var version = rotations.Request(target[0].Id);
                return Results.Json(new { organization = target[0].Id, version }, statusCode: StatusCodes.Status202Accepted);
            }
            catch (ArgumentException e) { return Results.Json(new { error = e.Message }, statusCode: StatusCodes.Status400BadRequest); }
            catch (NotSupportedException e) { return Results.Json(new { error = e.Message }, statusCode: StatusCodes.Status409Conflict); }
        });
        group.MapPost("/keys/rotate-mailbox", async (MailboxRotateRequest request, CancellationToken ct) =>
        {
            try
            {
                var (_, mailbox) = KeyAdministration.ResolveMailbox(Store, monitor.Config, request.Address);
                var running = rotations.RotateMailbox(mailbox.Owner, mailbox.MailboxId);
                if (!request.Wait)
                    return Results.Json(new { mailboxId = mailbox.MailboxId }, statusCode: StatusCodes.Status202Accepted);
                var r = await running.WaitAsync(ct);
                return Results.Json(new MailboxRotationResultView(mailbox.Owner, r.MailboxId, r.Generation, r.Rewrapped, r.Elapsed.TotalSeconds, r.Resumed, r.OlderCopiesNeedRotation));
            }
            catch (ArgumentException e) { return Results.Json(new { error = e.Message }, statusCode: StatusCodes.Status400BadRequest); }
            catch (KeyNotFoundException e) { return Results.Json(new { error = e.Message }, statusCode: StatusCodes.Status404NotFound); }
            catch (Exception e) when (e is IOException or InvalidOperationException or System.Security.Cryptography.CryptographicException)
            {
                return Results.Json(new { error = e.Message }, statusCode: StatusCodes.Status500InternalServerError);
            }
        });
        group.MapPost("/mailboxes/delete", async (MailboxDeleteRequest request, CancellationToken ct) =>
        {
            try
            {
                var result = await KeyAdministration.DeleteMailboxAsync(Store, monitor.Config, request.Address, ct);
                KeysLog.MailboxDeleted(logger, result.MailboxId, result.Messages);
                return Results.Json(result);
            }
            catch (ArgumentException e) { return Results.Json(new { error = e.Message }, statusCode: StatusCodes.Status400BadRequest); }
            catch (KeyNotFoundException e) { return Results.Json(new { error = e.Message }, statusCode: StatusCodes.Status404NotFound); }
        });
    }
}

/// <summary>
/// <c>POST /admin/backup</c> <c>{"to","passphrase"}</c>: an online backup of the LiteDB store (registered for that engine
/// only; PostgreSQL is backed up with its own tools, README "Backups on PostgreSQL"). Errors: 400 with <c>{"error"}</c>
/// for bad input, 500 when the copy fails.
/// </summary>
internal sealed class BackupEndpoints(MailStore store, ConfigMonitor monitor, ILogger<KeysEndpoints> logger) : IAdminEndpoints
{
    public void Map(IEndpointRouteBuilder endpoints)
    {
        var group = endpoints.MapGroup("/admin").RequireAdminToken();
        group.MapPost("/backup", async (BackupRequest request, CancellationToken ct) =>
        {
            try
            {
                var config = monitor.Config;
                var report = await Backup.RunAsync(store, config, monitor.ConfigPath, new Hosting.ConfiguredMasterKeys(() => config), request.To, request.Passphrase, ct);
                KeysLog.BackupDone(logger, report.Directory, report.Messages, report.FilesCopied, report.BytesCopied, (long)(report.Seconds * 1000));
                return Results.Json(report);
            }
            catch (ArgumentException e) { return Results.Json(new { error = e.Message }, statusCode: StatusCodes.Status400BadRequest); }
            catch (IOException e) { return Results.Json(new { error = e.Message }, statusCode: StatusCodes.Status500InternalServerError); }
        });
    }
}
