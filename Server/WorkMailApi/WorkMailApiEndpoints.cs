using System.Text.Json;
using System.Text.Json.Nodes;
using MailServer.Server.Admin;
using MailServer.Server.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.WorkMailApi;

/// <summary>
/// The WorkMail API on the admin listener: AWS's JSON 1.1 protocol, <c>POST /</c> with
/// <c>X-Amz-Target: WorkMailService.&lt;Operation&gt;</c> and a JSON body, signed with Signature Version 4
/// (<see cref="SigV4Verifier"/>), so that the AWS CLI (<c>aws workmail ... --endpoint-url</c>) and the SDKs work
/// unchanged. Errors are WorkMail's: HTTP 400 with <c>{"__type": "...", "message": "..."}</c>; a server fault is
/// 500 InternalFailure and logged with its stack. Every call, refused ones included, goes to the admin audit trail.
/// </summary>
public sealed class WorkMailApiEndpoints(
    ConfigMonitor monitor,
    WorkMailOperations operations,
    AdminAuditTrail audit,
    ILogger<WorkMailApiEndpoints> logger,
    TimeProvider? time = null) : IAdminEndpoints
{
    /// <summary>The JSON 1.1 media type of requests and replies.</summary>
    public const string ContentType = "application/x-amz-json-1.1";

    /// <summary>The X-Amz-Target prefix of WorkMail operations.</summary>
    public const string TargetPrefix = "WorkMailService.";

    /// <summary>The largest request body accepted (WorkMail's requests are small).</summary>
    public const int MaxBodyBytes = 1024 * 1024;

    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <inheritdoc />
    public void Map(IEndpointRouteBuilder endpoints) => endpoints.MapPost("/", HandleAsync);

    private async Task HandleAsync(HttpContext http)
    {
        var requestId = Guid.NewGuid().ToString("D");
        http.Response.Headers["x-amzn-RequestId"] = requestId;
        var sourceIp = http.Connection.RemoteIpAddress?.ToString() ?? "";
        var userAgent = http.Request.Headers.UserAgent.ToString();
        var target = http.Request.Headers["X-Amz-Target"].ToString();
        var operation = target.StartsWith(TargetPrefix, StringComparison.Ordinal) ? target[TargetPrefix.Length..] : target;

        ApiCaller? caller = null;
        ApiCall? call = null;
        try
        {
            var body = await ReadBodyAsync(http.Request, http.RequestAborted);
            var request = new SignedRequest(http.Request.Method, http.Request.Path.Value ?? "/",
                http.Request.Query.SelectMany(q => q.Value.Select(v => KeyValuePair.Create(q.Key, v ?? ""))).ToList(),
                http.Request.Headers.SelectMany(h => h.Value.Select(v => KeyValuePair.Create(h.Key, v ?? ""))).ToList(),
                body);
            caller = SigV4Verifier.Verify(request, monitor.Config, _time.GetUtcNow());

            if (!target.StartsWith(TargetPrefix, StringComparison.Ordinal) || !operations.TryGet(operation, out var handler))
                throw new WorkMailException("UnknownOperationException", $"Unknown operation: {target}");

            JsonElement input;
            try
            {
                using var document = JsonDocument.Parse(body.Length == 0 ? "{}"u8.ToArray() : body);
                input = document.RootElement.Clone();
            }
            catch (JsonException)
            {
                throw new WorkMailException("SerializationException", "The request body is not valid JSON.");
            }
            if (input.ValueKind != JsonValueKind.Object)
                throw new WorkMailException("SerializationException", "The request body must be a JSON object.");

            call = new ApiCall(operation, input, caller, http.RequestAborted);
            JsonObject? output;
            try
            {
                output = await handler.Run(call);
            }
            catch (ConfigWriteRefusedException refused)
            {
                throw refused.FileWasInvalid
                    ? WorkMailException.OrganizationState(refused.Message)
                    : WorkMailException.InvalidParameter(string.Join("; ", refused.Errors));
            }
            Audit(caller, operation, handler.ReadOnly, sourceIp, userAgent, requestId, call, output, null);
            WorkMailApiLog.Call(logger, operation, caller.AccessKeyId, "ok");
            await WriteAsync(http, 200, output ?? new JsonObject());
        }
        catch (WorkMailException e)
        {
            AuditError(http, caller, operation, sourceIp, userAgent, requestId, call, e.Type, e.Message);
            await WriteAsync(http, e.StatusCode, new JsonObject { ["__type"] = e.Type, ["message"] = e.Message });
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client went away.
        }
        catch (Exception e)
        {
            WorkMailApiLog.Failed(logger, e, operation);
            AuditError(http, caller, operation, sourceIp, userAgent, requestId, call, "InternalFailure", "The server failed to process the request.");
            await WriteAsync(http, 500, new JsonObject { ["__type"] = "InternalFailure", ["message"] = "The server failed to process the request." });
        }
    }

    private void AuditError(HttpContext http, ApiCaller? caller, string operation, string sourceIp, string userAgent, string requestId,
        ApiCall? call, string type, string message)
    {
        if (caller is null)
        {
            WorkMailApiLog.Refused(logger, sourceIp, type);
            var credential = http.Request.Headers.Authorization.ToString();
            var at = credential.IndexOf("Credential=", StringComparison.Ordinal);
            var keyId = at < 0 ? null : new string(credential[(at + 11)..].TakeWhile(char.IsLetterOrDigit).Take(128).ToArray());
            var readOnly = operations.TryGet(operation, out var known) && known.ReadOnly;
            audit.Write(new AdminApiAuditRecord(null, keyId, operation, readOnly, null, sourceIp, userAgent, requestId, null, null, type, message));
            return;
        }
        WorkMailApiLog.Call(logger, operation, caller.AccessKeyId, type);
        operations.TryGet(operation, out var handler);
        Audit(caller, operation, handler?.ReadOnly ?? false, sourceIp, userAgent, requestId, call, null, (type, message));
    }

    private void Audit(ApiCaller caller, string operation, bool readOnly, string sourceIp, string userAgent, string requestId, ApiCall? call,
        JsonObject? output, (string Type, string Message)? error) =>
        audit.Write(new AdminApiAuditRecord(caller.OrganizationId, caller.AccessKeyId, operation, readOnly, caller.Region, sourceIp, userAgent,
            requestId, call?.RedactedInput(), readOnly ? null : output?.DeepClone(), error?.Type, error?.Message));

    private static async Task<byte[]> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > MaxBodyBytes)
                throw new WorkMailException("SerializationException", $"The request body is larger than {MaxBodyBytes} bytes.");
        }
        return buffer.ToArray();
    }

    private static async Task WriteAsync(HttpContext http, int status, JsonObject body)
    {
        if (http.Response.HasStarted)
            return;
        http.Response.StatusCode = status;
        http.Response.ContentType = ContentType;
        if (status != 200 && body["__type"] is { } type)
            http.Response.Headers["x-amzn-ErrorType"] = type.GetValue<string>();
        await http.Response.WriteAsync(body.ToJsonString(), http.RequestAborted);
    }
}
