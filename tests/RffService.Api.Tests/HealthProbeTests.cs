namespace RffService.Api.Tests;

/// <summary>--health-probe finds the service's address wherever ASP.NET Core reads it from.</summary>
public class HealthProbeTests
{
    [Fact]
    public void The_address_comes_from_urls_kestrel_endpoints_or_appsettings_and_skips_the_grpc_port()
    {
        Assert.Equal(7001, HealthProbe.Address(["--urls", "http://127.0.0.1:7001"]).Port);
        Assert.Equal(7002, HealthProbe.Address(["--urls", "http://127.0.0.1:7001", "--Kestrel:Endpoints:Http:Url", "http://127.0.0.1:7002"]).Port);
        var both = HealthProbe.Address(["--urls", "http://0.0.0.0:7003;http://0.0.0.0:7004", "--Api:GrpcPort", "7003"]);
        Assert.Equal(("127.0.0.1", 7004), (both.Host, both.Port));

        var folder = Directory.CreateTempSubdirectory("rff-probe-");
        try
        {
            File.WriteAllText(Path.Combine(folder.FullName, "appsettings.json"), """{ "Urls": "http://127.0.0.1:7005" }""");
            Assert.Equal(7005, HealthProbe.Address(["--contentRoot", folder.FullName]).Port);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
