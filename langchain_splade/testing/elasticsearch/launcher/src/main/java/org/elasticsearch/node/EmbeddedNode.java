package org.elasticsearch.node;

import java.util.List;
import java.util.Map;
import java.util.Set;

import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.ClassListPluginsService;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.PluginsLoader;
import org.elasticsearch.plugins.PluginsService;

/**
 * A node whose plugins are classes on the classpath rather than bundles in a plugins folder.
 *
 * <p>The constructor that accepts a {@link NodeServiceProvider} is package-private, and so is
 * the provider's {@code newPluginService} hook: this class lives in {@code org.elasticsearch.node}
 * to reach them (the same way Elasticsearch's own test framework builds its mock nodes).
 */
public final class EmbeddedNode extends Node {

    public EmbeddedNode(Settings settings, List<Class<? extends Plugin>> plugins) {
        super(NodeConstruction.prepareConstruction(
                new Environment(settings, null),
                PluginsLoader.createPluginsLoader(Set.of(), Set.of(), Map.of(), false),
                new ClassListProvider(plugins),
                true));
    }

    private static final class ClassListProvider extends NodeServiceProvider {
        private final List<Class<? extends Plugin>> plugins;

        ClassListProvider(List<Class<? extends Plugin>> plugins) {
            this.plugins = plugins;
        }

        @Override
        PluginsService newPluginService(Environment environment, PluginsLoader loader) {
            return new ClassListPluginsService(environment.settings(), loader, plugins);
        }
    }
}
