using System.Net;
using System.Text.RegularExpressions;
using RffService.Inference;
using YamlDotNet.RepresentationModel;

namespace RffService.Api.Tests;

/// <summary>
/// Parses every deployment file (Kubernetes manifests, kustomize overlays, KServe, docker-compose, Prometheus) and
/// checks what must agree with the app and the Dockerfile: probe paths answer, ports and names line up, images exist.
/// </summary>
public class DeploymentManifestTests(ServiceFactory factory) : IClassFixture<ServiceFactory>
{
    private static readonly string Root = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "RffService.sln"))) return dir.FullName;
        throw new InvalidOperationException("RffService.sln not found above the test folder.");
    }

    private static List<YamlMappingNode> Documents(string relativePath)
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(Path.Combine(Root, relativePath));
        stream.Load(reader);
        return stream.Documents.Select(d => (YamlMappingNode)d.RootNode).ToList();
    }

    private static YamlNode? At(YamlNode node, params object[] path)
    {
        foreach (var step in path)
        {
            node = step switch
            {
                string key when node is YamlMappingNode map => map.Children.TryGetValue(new YamlScalarNode(key), out var child) ? child : null!,
                int index when node is YamlSequenceNode list => index < list.Children.Count ? list.Children[index] : null!,
                _ => null!,
            };
            if (node is null) return null;
        }
        return node;
    }

    private static string Text(YamlNode node, params object[] path) =>
        (At(node, path) as YamlScalarNode)?.Value ?? throw new Xunit.Sdk.XunitException($"missing {string.Join(".", path)}");

    private static YamlMappingNode Manifest(string file, string kind) => Documents(file).Single(d => Text(d, "kind") == kind);

    private static YamlMappingNode Container(YamlMappingNode deployment) => (YamlMappingNode)At(deployment, "spec", "template", "spec", "containers", 0)!;

    private static string DockerfileText => File.ReadAllText(Path.Combine(Root, "Dockerfile"));

    private static int DockerfilePort => int.Parse(Regex.Match(DockerfileText, @"^EXPOSE (\d+)", RegexOptions.Multiline).Groups[1].Value);

    /// <summary>An overlay as the cluster would get it: <c>kubectl kustomize</c>'s output, parsed.</summary>
    private static List<YamlMappingNode> Rendered(string overlay)
    {
        var start = new System.Diagnostics.ProcessStartInfo("kubectl", ["kustomize", Path.Combine(Root, "deploy", "k8s", "overlays", overlay)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = System.Diagnostics.Process.Start(start) ?? throw new InvalidOperationException("kubectl did not start");
        string yaml = process.StandardOutput.ReadToEnd();
        string errors = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"kubectl kustomize {overlay}: {errors}");
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        return stream.Documents.Select(d => (YamlMappingNode)d.RootNode).ToList();
    }

    [Fact]
    public void Every_yaml_file_parses_and_names_its_kind()
    {
        var files = Directory.GetFiles(Path.Combine(Root, "deploy"), "*.yaml", SearchOption.AllDirectories)
            .Concat(Directory.GetFiles(Path.Combine(Root, "deploy"), "*.yml", SearchOption.AllDirectories))
            .Append(Path.Combine(Root, "docker-compose.yml"))
            .Select(f => Path.GetRelativePath(Root, f)).ToList();
        Assert.True(files.Count >= 12, string.Join(", ", files));
        foreach (var file in files)
            foreach (var document in Documents(file))
            {
                if (file.EndsWith("docker-compose.yml") || file.Contains("prometheus")) continue;
                Assert.False(string.IsNullOrEmpty(Text(document, "apiVersion")), file);
                Assert.False(string.IsNullOrEmpty(Text(document, "kind")), file);
                if (Text(document, "kind") != "Kustomization") Assert.Equal("rffservice" + (Text(document, "kind") == "ConfigMap" ? "-config" : ""), Text(document, "metadata", "name"));
            }
    }

    [Fact]
    public void Kustomizations_refer_to_files_that_exist()
    {
        foreach (var dir in new[] { "deploy/k8s/base", "deploy/k8s/overlays/cpu", "deploy/k8s/overlays/gpu" })
        {
            var kustomization = Manifest(Path.Combine(dir, "kustomization.yaml"), "Kustomization");
            var references = ((YamlSequenceNode)At(kustomization, "resources")!).Select(r => ((YamlScalarNode)r).Value!)
                .Concat((At(kustomization, "patches") as YamlSequenceNode)?.Select(p => At(p, "path")).OfType<YamlScalarNode>().Select(p => p.Value!) ?? []);
            foreach (var reference in references)
            {
                string path = Path.GetFullPath(Path.Combine(Root, dir, reference));
                Assert.True(File.Exists(path) || File.Exists(Path.Combine(path, "kustomization.yaml")), $"{dir}: {reference} does not exist");
            }
        }
    }

    [Fact]
    public async Task Probe_paths_exist_in_the_app_and_ports_agree_with_the_dockerfile()
    {
        var client = await factory.ReadyClientAsync();
        var deployment = Manifest("deploy/k8s/base/deployment.yaml", "Deployment");
        var container = Container(deployment);
        Assert.Equal(DockerfilePort, int.Parse(Text(container, "ports", 0, "containerPort")));
        string portName = Text(container, "ports", 0, "name");
        foreach (var probe in new[] { "readinessProbe", "livenessProbe", "startupProbe" })
        {
            Assert.Equal(portName, Text(container, probe, "httpGet", "port"));
            string path = Text(container, probe, "httpGet", "path");
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(path)).StatusCode);
        }
        Assert.Equal("/health/ready", Text(container, "readinessProbe", "httpGet", "path"));
        Assert.Equal("/health/live", Text(container, "livenessProbe", "httpGet", "path"));
        Assert.True(int.Parse(Text(deployment, "spec", "template", "spec", "terminationGracePeriodSeconds")) >= 10);
        foreach (var resource in new[] { "requests", "limits" })
        {
            Assert.NotNull(At(container, "resources", resource, "cpu"));
            Assert.NotNull(At(container, "resources", resource, "memory"));
        }

        var service = Manifest("deploy/k8s/base/service.yaml", "Service");
        Assert.Equal(portName, Text(service, "spec", "ports", 0, "targetPort"));
        Assert.Equal(Text(deployment, "spec", "template", "metadata", "labels", "app.kubernetes.io/name"), Text(service, "spec", "selector", "app.kubernetes.io/name"));

        var kserve = Manifest("deploy/kserve/inferenceservice.yaml", "InferenceService");
        var predictor = (YamlMappingNode)At(kserve, "spec", "predictor", "containers", 0)!;
        Assert.Equal(DockerfilePort, int.Parse(Text(predictor, "ports", 0, "containerPort")));
        foreach (var probe in new[] { "readinessProbe", "livenessProbe" })
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(Text(predictor, probe, "httpGet", "path"))).StatusCode);
    }

    [Fact]
    public void Every_manifest_listens_on_its_grpc_port_or_turns_grpc_off()
    {
        // The image's settings, then each manifest's: Api__GrpcPort must be among ASPNETCORE_URLS, or 0.
        string imageUrls = Regex.Match(DockerfileText, "ASPNETCORE_URLS=\"([^\"]+)\"").Groups[1].Value;
        string imageGrpc = Regex.Match(DockerfileText, @"Api__GrpcPort=(\d+)").Groups[1].Value;
        void Check(string where, IReadOnlyDictionary<string, string> env)
        {
            string urls = env.GetValueOrDefault("ASPNETCORE_URLS") ?? imageUrls;
            string grpc = env.GetValueOrDefault("Api__GrpcPort") ?? imageGrpc;
            Assert.True(grpc == "0" || urls.Split(';').Any(u => u.EndsWith($":{grpc}")), $"{where}: Api__GrpcPort {grpc} is not among {urls}");
        }
        var predictor = At(Manifest("deploy/kserve/inferenceservice.yaml", "InferenceService"), "spec", "predictor", "containers", 0)!;
        Check("kserve", ((YamlSequenceNode)At(predictor, "env")!).ToDictionary(e => Text(e, "name"), e => Text(e, "value")));
        var services = (YamlMappingNode)At(Documents("docker-compose.yml")[0], "services")!;
        foreach (var (name, service) in services.Children.Where(s => Text(s.Value, "image").StartsWith("rffservice")))
            Check($"compose {name}", ((YamlMappingNode)At(service, "environment")!).Children
                .ToDictionary(kv => ((YamlScalarNode)kv.Key).Value!, kv => ((YamlScalarNode)kv.Value).Value!));
        foreach (var overlay in new[] { "cpu", "gpu" })
            Check($"k8s {overlay}", ((YamlMappingNode)At(Rendered(overlay).Single(d => Text(d, "kind") == "ConfigMap"), "data")!).Children
                .ToDictionary(kv => ((YamlScalarNode)kv.Key).Value!, kv => ((YamlScalarNode)kv.Value).Value!));
    }

    [Fact]
    public void Health_checks_do_not_depend_on_the_image_format()
    {
        // Docker keeps the image's HEALTHCHECK; podman and buildah only with --format docker, so the docs say so
        // wherever they build the image.
        Assert.Matches(@"(?m)^HEALTHCHECK ", DockerfileText);
        var builds = Regex.Matches(File.ReadAllText(Path.Combine(Root, "docs", "deployment.md")), @"(?m)^(podman|buildah) (build|bud)\b.*$");
        Assert.NotEmpty(builds);
        Assert.All(builds, build => Assert.Contains("--format docker", build.Value));
        // Orchestrators probe by themselves: compose's services have their own health check, the Kubernetes
        // deployment (every overlay) and KServe their own HTTP probes.
        var services = (YamlMappingNode)At(Documents("docker-compose.yml")[0], "services")!;
        foreach (var (name, service) in services.Children.Where(s => Text(s.Value, "image").StartsWith("rffservice")))
            Assert.True(At(service, "healthcheck", "test") is YamlSequenceNode { Children.Count: > 0 }, $"compose service {name} has no healthcheck");
        foreach (var overlay in new[] { "cpu", "gpu" })
        {
            var container = Container(Rendered(overlay).Single(d => Text(d, "kind") == "Deployment"));
            Assert.Equal("/health/ready", Text(container, "readinessProbe", "httpGet", "path"));
            Assert.Equal("/health/live", Text(container, "livenessProbe", "httpGet", "path"));
        }
        var predictor = (YamlMappingNode)At(Manifest("deploy/kserve/inferenceservice.yaml", "InferenceService"), "spec", "predictor", "containers", 0)!;
        Assert.NotNull(At(predictor, "readinessProbe", "httpGet", "path"));
        Assert.NotNull(At(predictor, "livenessProbe", "httpGet", "path"));
    }

    [Fact]
    public void Images_agree_with_the_dockerfile_flavours_and_compose()
    {
        var flavours = Regex.Matches(DockerfileText, @"AS runtime-(\w+)").Select(m => m.Groups[1].Value).ToHashSet();
        Assert.Equal(["cpu", "gpu"], flavours.Order());
        Assert.DoesNotMatch(@"(?m)^FROM\s+\S+:latest", DockerfileText);
        Assert.Matches(@"(?m)^USER \d+", DockerfileText);
        Assert.Matches(@"(?m)^HEALTHCHECK [^\n]*\\\n\s+CMD \[""dotnet"", ""/app/RffService.Api.dll"", ""--health-probe"", ""/health/live""\]", DockerfileText);

        var compose = Documents("docker-compose.yml")[0];
        var composeImages = ((YamlMappingNode)At(compose, "services")!).Children.Values
            .Select(s => (At(s, "image") as YamlScalarNode)?.Value).OfType<string>().Where(i => i.StartsWith("rffservice:")).ToList();
        Assert.Equal(["rffservice:cpu", "rffservice:gpu"], composeImages.Order());

        var deployment = Manifest("deploy/k8s/base/deployment.yaml", "Deployment");
        Assert.Contains(Text(Container(deployment), "image"), composeImages);
        foreach (var flavour in new[] { "cpu", "gpu" })
        {
            var overlay = Manifest($"deploy/k8s/overlays/{flavour}/kustomization.yaml", "Kustomization");
            Assert.Equal("rffservice", Text(overlay, "images", 0, "name"));
            Assert.Equal(flavour, Text(overlay, "images", 0, "newTag"));
        }
        Assert.Contains(Text(Manifest("deploy/kserve/inferenceservice.yaml", "InferenceService"), "spec", "predictor", "containers", 0, "image"), composeImages);
    }

    [Fact]
    public void The_gpu_overlay_asks_for_a_gpu_and_cuda()
    {
        var patch = Manifest("deploy/k8s/overlays/gpu/gpu-patch.yaml", "Deployment");
        Assert.Equal("1", Text(Container(patch), "resources", "limits", "nvidia.com/gpu"));
        string kustomization = File.ReadAllText(Path.Combine(Root, "deploy/k8s/overlays/gpu/kustomization.yaml"));
        Assert.Contains("path: /data/Inference__ExecutionProvider", kustomization);
        Assert.Contains("value: cuda", kustomization);

        var gpuService = (YamlMappingNode)At(Documents("docker-compose.yml")[0], "services", "rffservice-gpu")!;
        Assert.Equal("cuda", Text(gpuService, "environment", "Inference__ExecutionProvider"));
        Assert.Equal("nvidia", Text(gpuService, "deploy", "resources", "reservations", "devices", 0, "driver"));
        Assert.Equal("gpu", Text(gpuService, "profiles", 0));
    }

    [Fact]
    public void Autoscaler_and_disruption_budget_target_the_deployment()
    {
        var deployment = Manifest("deploy/k8s/base/deployment.yaml", "Deployment");
        var hpa = Manifest("deploy/k8s/base/hpa.yaml", "HorizontalPodAutoscaler");
        Assert.Equal("Deployment", Text(hpa, "spec", "scaleTargetRef", "kind"));
        Assert.Equal(Text(deployment, "metadata", "name"), Text(hpa, "spec", "scaleTargetRef", "name"));
        Assert.True(int.Parse(Text(hpa, "spec", "minReplicas")) <= int.Parse(Text(hpa, "spec", "maxReplicas")));
        var pdb = Manifest("deploy/k8s/base/pdb.yaml", "PodDisruptionBudget");
        Assert.Equal(Text(deployment, "spec", "selector", "matchLabels", "app.kubernetes.io/name"), Text(pdb, "spec", "selector", "matchLabels", "app.kubernetes.io/name"));
        Assert.Equal("rffservice-config", Text(Container(deployment), "envFrom", 0, "configMapRef", "name"));
    }

    [Fact]
    public void Config_map_keys_are_settings_the_app_knows()
    {
        var configMap = Manifest("deploy/k8s/base/configmap.yaml", "ConfigMap");
        var known = new Dictionary<string, Type> { ["Inference"] = typeof(InferenceOptions), ["Api"] = typeof(ApiOptions) };
        foreach (var key in ((YamlMappingNode)At(configMap, "data")!).Children.Keys.Select(k => ((YamlScalarNode)k).Value!))
        {
            var parts = key.Split("__");
            if (parts[0] is "ASPNETCORE_URLS" or "ASPNETCORE_HTTP_PORTS" or "Serilog") continue;
            Assert.True(known.TryGetValue(parts[0], out var options), $"unknown section in {key}");
            Assert.True(options.GetProperty(parts[1]) is not null, $"{options.Name} has no {parts[1]} ({key})");
        }
        Assert.Equal("/models", Text(configMap, "data", "Inference__ModelsPath"));
        var mounts = (YamlSequenceNode)At(Container(Manifest("deploy/k8s/base/deployment.yaml", "Deployment")), "volumeMounts")!;
        Assert.Contains(mounts, m => Text(m, "mountPath") == "/models");
    }

    [Theory]
    [Trait("Needs", "kubectl")]
    [InlineData("cpu")]
    [InlineData("gpu")]
    public void Rendered_overlays_allow_drains_meet_pod_security_restricted_and_keep_a_shutdown_budget(string overlay)
    {
        var documents = Rendered(overlay);
        YamlMappingNode Kind(string kind) => documents.Single(d => Text(d, "kind") == kind);
        var deployment = Kind("Deployment");
        var pod = (YamlMappingNode)At(deployment, "spec", "template", "spec")!;

        // A drain can always evict a pod: the budget allows one down whatever the replica count.
        var pdb = Kind("PodDisruptionBudget");
        int replicas = Math.Min(int.Parse(Text(deployment, "spec", "replicas")), int.Parse(Text(Kind("HorizontalPodAutoscaler"), "spec", "minReplicas")));
        bool allows = At(pdb, "spec", "maxUnavailable") is YamlScalarNode max ? int.Parse(max.Value!) >= 1
            : int.Parse(Text(pdb, "spec", "minAvailable")) < replicas;
        Assert.True(allows, $"{overlay}: the disruption budget blocks drains at {replicas} replica(s)");

        // Pod Security Standard "restricted", for every container, init containers included.
        Assert.Equal("true", Text(pod, "securityContext", "runAsNonRoot"));
        Assert.Equal("RuntimeDefault", Text(pod, "securityContext", "seccompProfile", "type"));
        var containers = ((YamlSequenceNode)At(pod, "containers")!).Concat((At(pod, "initContainers") as YamlSequenceNode) ?? []).ToList();
        Assert.True(containers.Count >= 2);
        foreach (var container in containers)
        {
            string name = Text(container, "name");
            Assert.True(Text(container, "securityContext", "allowPrivilegeEscalation") == "false", $"{overlay}/{name}: allowPrivilegeEscalation");
            Assert.Equal(["ALL"], ((YamlSequenceNode)At(container, "securityContext", "capabilities", "drop")!).Select(c => ((YamlScalarNode)c).Value));
            Assert.NotEqual("true", (At(container, "securityContext", "privileged") as YamlScalarNode)?.Value);
        }

        // SIGKILL comes only after the preStop pause, the app's own shutdown timeout and some headroom.
        var config = Kind("ConfigMap");
        int grace = int.Parse(Text(pod, "terminationGracePeriodSeconds"));
        int preStop = int.Parse(Text(Container(deployment), "lifecycle", "preStop", "sleep", "seconds"));
        double shutdown = TimeSpan.Parse(Text(config, "data", "Api__ShutdownTimeout"), System.Globalization.CultureInfo.InvariantCulture).TotalSeconds;
        Assert.True(grace >= preStop + shutdown + 10, $"{overlay}: grace {grace} s < preStop {preStop} s + shutdown {shutdown} s + 10 s headroom");

        // The gRPC port: listened on, declared by the container and the Service.
        int grpc = int.Parse(Text(config, "data", "Api__GrpcPort"));
        Assert.Contains($":{grpc}", Text(config, "data", "ASPNETCORE_URLS"));
        Assert.Contains((YamlSequenceNode)At(Container(deployment), "ports")!, p => Text(p, "name") == "grpc" && Text(p, "containerPort") == grpc.ToString());
        Assert.Contains((YamlSequenceNode)At(Kind("Service"), "spec", "ports")!, p => Text(p, "targetPort") == "grpc");
    }
}
