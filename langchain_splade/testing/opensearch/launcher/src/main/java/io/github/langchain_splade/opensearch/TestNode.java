package io.github.langchain_splade.opensearch;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.index.mapper.MapperExtrasPlugin;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * An embedded single-node OpenSearch for tests, demos and notebooks.
 *
 * <p>The distribution's Bootstrap (root refusal, bootstrap checks, jar hell, security
 * manager) is not used: this is the same engine, started the way its own tests start it.
 *
 * <p>Usage: {@code java -cp "classes:lib/*" ...TestNode [--exit-on-stdin-eof] -E key=value ...}.
 * Settings given with {@code -E} override the defaults below; {@code path.home} is required.
 * With {@code --exit-on-stdin-eof} the node shuts down when its standard input closes, so a
 * parent process that dies (even by SIGKILL) never leaves an orphan JVM behind.
 */
public final class TestNode {

    private static final Collection<Class<? extends Plugin>> PLUGINS = List.of(
            Netty4Plugin.class, MapperExtrasPlugin.class, CommonAnalysisPlugin.class);

    /** Node's plugin-taking constructor is protected: a subclass reaches it. */
    private static final class EmbeddedNode extends Node {
        EmbeddedNode(Environment environment) {
            super(environment, PLUGINS, true);
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
        for (int i = 0; i < args.length; i++) {
            if ("--exit-on-stdin-eof".equals(args[i])) {
                exitOnStdinEof = true;
            } else if ("-E".equals(args[i]) && i + 1 < args.length) {
                String setting = args[++i];
                int eq = setting.indexOf('=');
                if (eq <= 0) {
                    throw new IllegalArgumentException("expected -E key=value, got " + setting);
                }
                builder.put(setting.substring(0, eq), setting.substring(eq + 1));
            } else {
                throw new IllegalArgumentException(
                        "unknown argument " + args[i] + "; usage: [--exit-on-stdin-eof] -E key=value ...");
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
        Node node = new EmbeddedNode(environment);

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
        Path dataPath = environment.dataFiles()[0];
        System.out.println("test node started, data in " + dataPath);
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
