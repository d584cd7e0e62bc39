package io.github.langchain_splade.opensearch3;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

import org.opensearch.Version;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.PluginInfo;

/**
 * An embedded single-node OpenSearch 3.1+ for tests, demos and notebooks.
 *
 * <p>Since 3.1 the node's plugin-taking constructor reads {@link PluginInfo}s (a name, a
 * class and the plugins it extends) instead of classes, so the plugins are arguments:
 * {@code --plugin name:className[:extended1,extended2]}. The caller names the module
 * plugins of the version it built against (3.x renamed them to {@code *ModulePlugin}), and
 * k-NN and neural-search with their real names and extension chain.
 *
 * <p>The distribution's Bootstrap (root refusal, bootstrap checks, jar hell, security
 * manager or agent) is not used: this is the same engine, started the way its own tests
 * start it.
 *
 * <p>Usage: {@code java -cp "classes:lib/*" ...TestNode [--exit-on-stdin-eof]
 * --plugin name:class[:extends] ... -E key=value ...}. {@code path.home} is required. With
 * {@code --exit-on-stdin-eof} the node shuts down when its standard input closes, so a
 * parent process that dies (even by SIGKILL) never leaves an orphan JVM behind.
 */
public final class TestNode {

    /** Node's plugin-taking constructor is protected: a subclass reaches it. */
    private static final class EmbeddedNode extends Node {
        EmbeddedNode(Environment environment, List<PluginInfo> plugins) {
            super(environment, plugins, true);
        }
    }

    private TestNode() {
    }

    public static void main(String[] args) {
        try {
            run(args);
        } catch (Throwable t) {
            // A half-started node keeps non-daemon threads: exit, or the JVM lingers.
            t.printStackTrace();
            System.exit(1);
        }
    }

    static PluginInfo plugin(String spec) {
        String[] parts = spec.split(":", -1);
        if (parts.length < 2 || parts.length > 3 || parts[0].isEmpty() || parts[1].isEmpty()) {
            throw new IllegalArgumentException("expected --plugin name:class[:extended,...], got " + spec);
        }
        List<String> extended = parts.length == 3 && !parts[2].isEmpty()
                ? Arrays.asList(parts[2].split(","))
                : Collections.emptyList();
        return new PluginInfo(parts[0], "classpath plugin", "NA", Version.CURRENT, "21",
                parts[1], extended, false);
    }

    private static void run(String[] args) throws Exception {
        Settings.Builder builder = Settings.builder()
                .put("cluster.name", "langchain-splade-test")
                .put("node.name", "node-0")
                .put("discovery.type", "single-node")
                .put("network.host", "127.0.0.1")
                .put("http.port", "0")
                .put("transport.port", "0")
                .put("node.portsfile", true)
                .put("cluster.routing.allocation.disk.threshold_enabled", false);
        boolean exitOnStdinEof = false;
        List<PluginInfo> plugins = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            if ("--exit-on-stdin-eof".equals(args[i])) {
                exitOnStdinEof = true;
            } else if ("--plugin".equals(args[i]) && i + 1 < args.length) {
                plugins.add(plugin(args[++i]));
            } else if ("-E".equals(args[i]) && i + 1 < args.length) {
                String setting = args[++i];
                int eq = setting.indexOf('=');
                if (eq <= 0) {
                    throw new IllegalArgumentException("expected -E key=value, got " + setting);
                }
                builder.put(setting.substring(0, eq), setting.substring(eq + 1));
            } else {
                throw new IllegalArgumentException("unknown argument " + args[i]
                        + "; usage: [--exit-on-stdin-eof] --plugin name:class[:extends] ... -E key=value ...");
            }
        }
        Settings settings = builder.build();
        if (!settings.hasValue("path.home")) {
            throw new IllegalArgumentException("missing -E path.home=DIR");
        }
        // The node writes <path.logs>/http.ports but does not create the folder.
        for (String key : List.of("path.logs", "path.data")) {
            if (settings.hasValue(key)) {
                Files.createDirectories(Path.of(settings.get(key)));
            }
        }
        String nodeName = settings.get("node.name");
        Environment environment = InternalSettingsPreparer.prepareEnvironment(
                settings, Collections.emptyMap(), null, () -> nodeName);
        Node node = new EmbeddedNode(environment, plugins);

        CountDownLatch closed = new CountDownLatch(1);
        AtomicBoolean closing = new AtomicBoolean(false);
        Runnable shutdown = () -> {
            if (closing.compareAndSet(false, true)) {
                try {
                    node.close();
                } catch (IOException e) {
                    e.printStackTrace();
                } finally {
                    closed.countDown();
                }
            }
        };
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            shutdown.run();
            awaitQuietly(closed);
        }, "test-node-shutdown"));

        node.start();
        System.out.println("test node started, data in " + environment.dataFiles()[0]);
        System.out.flush();

        if (exitOnStdinEof) {
            Thread watcher = new Thread(() -> {
                try (InputStream in = System.in) {
                    byte[] buffer = new byte[256];
                    while (in.read(buffer) >= 0) {
                        // ignore input; wait for end of stream
                    }
                } catch (IOException ignored) {
                    // a broken pipe means the parent is gone, same as EOF
                }
                System.exit(0); // runs the shutdown hook
            }, "stdin-eof-watcher");
            watcher.setDaemon(true);
            watcher.start();
        }
        // OpenSearch's threads are daemons: keep main alive until the node is closed.
        closed.await();
    }

    private static void awaitQuietly(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
