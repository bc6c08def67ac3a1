// Starts Solr (JettySolrRunner from solr-test-framework) on 127.0.0.1 with
// the cores found under the Solr home, and prints SOLR_READY <url> once it
// answers. Usage: java -cp 'LIB/*' CkanSolr SOLR_HOME PORT
import org.apache.solr.embedded.JettyConfig;
import org.apache.solr.embedded.JettySolrRunner;

public class CkanSolr {
    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: CkanSolr SOLR_HOME PORT");
            System.exit(2);
        }
        JettyConfig cfg = JettyConfig.builder().setContext("/solr")
            .setPort(Integer.parseInt(args[1])).stopAtShutdown(true).build();
        JettySolrRunner jetty = new JettySolrRunner(args[0], cfg);
        jetty.start();
        System.out.println("SOLR_READY " + jetty.getBaseUrl());
        System.out.flush();
        Thread.currentThread().join();
    }
}
