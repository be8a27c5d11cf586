using System.Text.Json.Nodes;
using MailServer.Server.Configuration;

namespace MailServer.Server.WorkMailApi;

// Mailbox export jobs (§26; WorkMail API reference: StartMailboxExportJob, CancelMailboxExportJob,
// DescribeMailboxExportJob, ListMailboxExportJobs). The bucket is a folder under <DataDirectory>/exports.
public sealed partial class WorkMailOperations
{
    private void RegisterExports(MailboxExportJobs exports)
    {
        // Starting a job writes no configuration: it is a write in the audit trail's sense, not a file edit.
        WriteAsync("StartMailboxExportJob", call =>
        {
            var (_, org) = call.Organization(_monitor.Config);
            var user = Entities.Resolve(org, call.Required("EntityId"), EntityKind.User);
            var bucket = call.Required("S3BucketName", 1, 63);
            if (!bucket.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-') || bucket.Trim('.').Length == 0 || bucket.Contains(".."))
                throw WorkMailException.InvalidParameter("S3BucketName must be letters, digits, '.' and '-'");
            var prefix = call.Required("S3Prefix", 1, 1024);
            if (!prefix.All(c => char.IsAsciiLetterOrDigit(c) || "!_.*'()/-".Contains(c)))
                throw WorkMailException.InvalidParameter("S3Prefix must be letters, digits and !_.*'()/-");
            var job = exports.Start(org.Id, user.Id, user.Email, call.String("Description", max: 1023), call.Required("RoleArn", 20, 2048),
                call.Required("KmsKeyArn", 20, 2048), bucket, prefix, call.String("ClientToken", max: 128));
            return Task.FromResult<JsonObject?>(new JsonObject { ["JobId"] = job.JobId });
        });

        WriteAsync("CancelMailboxExportJob", call =>
        {
            var (_, org) = call.Organization(_monitor.Config);
            var jobId = call.Required("JobId", 1, 63);
            if (!exports.Cancel(org.Id, jobId))
                throw WorkMailException.EntityNotFound($"no export job {jobId}");
            return Task.FromResult<JsonObject?>(null);
        });

        Read("DescribeMailboxExportJob", (call, config) =>
        {
            var (_, org) = call.Organization(config);
            var jobId = call.Required("JobId", 1, 63);
            var job = exports.Find(org.Id, jobId) ?? throw WorkMailException.EntityNotFound($"no export job {jobId}");
            var o = JobJson(job);
            o.Remove("JobId");
            o["RoleArn"] = job.RoleArn;
            o["KmsKeyArn"] = job.KmsKeyArn;
            o["S3Prefix"] = job.S3Prefix;
            if (job.ErrorInfo is not null)
                o["ErrorInfo"] = job.ErrorInfo;
            return o;
        });

        Read("ListMailboxExportJobs", (call, config) =>
        {
            var (_, org) = call.Organization(config);
            var (page, next) = call.Page(exports.List(org.Id));
            return Listed("Jobs", Array(page.Select(j => (JsonNode)JobJson(j))), next);
        });
    }

    private static JsonObject JobJson(MailboxExportJob job)
    {
        var o = new JsonObject
        {
            ["JobId"] = job.JobId,
            ["EntityId"] = job.EntityId,
            ["S3BucketName"] = job.S3BucketName,
            ["S3Path"] = job.S3Path,
            ["EstimatedProgress"] = job.EstimatedProgress,
            ["State"] = job.State,
            ["StartTime"] = job.StartTime.ToUnixTimeMilliseconds() / 1000.0,
        };
        if (job.Description is not null)
            o["Description"] = job.Description;
        if (job.EndTime is { } end)
            o["EndTime"] = end.ToUnixTimeMilliseconds() / 1000.0;
        return o;
    }
}
