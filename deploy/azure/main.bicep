// fooddelivery on Azure: a Function App on Flex Consumption (or two: parameter functionApps), a serverless Cosmos DB account and its containers, a
// Service Bus namespace (topics, subscriptions, the runtime's session queue, dead-lettering), Application Insights,
// and the app's managed identity with data-plane role assignments. No key or connection string is in any setting:
// every client (the app's SDK clients, the triggers, the host's storage, telemetry) authenticates as the identity.
// Checked offline by deploy/azure/check.sh (pycep-parser, checkov); deployed by deploy/azure/deploy.sh.

@description('Prefix of every resource name (3..11 lower-case letters and digits).')
@minLength(3)
@maxLength(11)
param prefix string

@description('Region of every resource.')
param location string = resourceGroup().location

@description('The card processor: \'<module>:<factory>\' importable in the app, or \'fake\' for a demo that never charges. No default: a deployment must say.')
param paymentGateway string

@description('How callers are identified: \'entra\' (bearer JWTs from Entra ID, verified by the app) or \'easyauth\' (App Service authentication in front).')
@allowed([
  'entra'
  'easyauth'
])
param authMode string = 'entra'

@description('Entra ID tenant of the API\'s tokens.')
param entraTenantId string = subscription().tenantId

@description('Entra ID audience of the API\'s tokens (its application ID URI or client id).')
param entraAudience string

@description('Where the order saga runs: \'servicebus\' (the core\'s runner on the runtime queue, timers as scheduled messages) or \'durable\' (a Durable Functions orchestration per order, its state in the task hub of the host\'s storage account).')
@allowed([
  'servicebus'
  'durable'
])
param sagaMode string = 'servicebus'

@description('Where the saga instances live (app setting COSMOS_SAGAS_CONTAINER): \'orders\' (each in its order\'s partition of the orders container: one transactional batch per saga step, the native unit of work) or \'sagas\' (the earlier layout: a container of their own, partition key /sagaId, declared only then; each step two writes). Keep \'sagas\' on a deployment whose sagas container still holds instances in flight (deploy/azure/README.md, "Saga instances").')
@allowed([
  'orders'
  'sagas'
])
param sagasContainer string = 'orders'

@description('How the functions are deployed: \'one\' (a single Function App, <prefix>-func, runs every function: app setting FOODDELIVERY_AZURE_FUNCTIONS=all) or \'two\' (<prefix>-func runs the HTTP API alone, FOODDELIVERY_AZURE_FUNCTIONS=http: its instances never import the Service Bus worker extension nor the Durable functions, so they start faster; <prefix>-work runs the background work, =background: the runtime queue, the outbox change feed and sweep, the Durable orchestrations). The two apps share the storage account and its task hub, Cosmos DB and Service Bus; the HTTP app may only send to Service Bus.')
@allowed([
  'one'
  'two'
])
param functionApps string = 'one'

@description('How many times a runtime message is delivered before Service Bus dead-letters it.')
@minValue(1)
param maxDeliveryCount int = 10

var databaseName = 'fooddelivery'
var deploymentContainer = 'app-package'
// the background app's package (functionApps = 'two'): a container of its own, as each Flex Consumption app has
var workDeploymentContainer = 'app-package-work'
var twoApps = functionApps == 'two'
var runtimeQueueName = 'order-runtime'
var orderEventsTopicName = 'order-events'
var notificationsTopicName = 'notifications'
var locationsTopicName = 'driver-locations'
// The Durable Functions task hub (host.json reads it from DURABLE_TASK_HUB): letters and digits only, starting with a
// letter, 3..45 characters (https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-task-hubs); the
// prefix keeps two deployments sharing a storage account apart. Its queues, tables and blobs live in the host's
// storage account, reached with the identity (the storage roles below are the ones the Azure Storage provider needs).
var taskHubName = 'fooddelivery${prefix}'

// Built-in role ids (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles).
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
var serviceBusDataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
var serviceBusDataReceiver = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'
// Cosmos DB Built-in Data Contributor (a Cosmos DB data-plane role, not an Azure RBAC role).
var cosmosDataContributor = '00000000-0000-0000-0000-000000000002'

// -- monitoring -------------------------------------------------------------------------------------------------
resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${prefix}-logs'
  location: location
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${prefix}-insights'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: true
  }
}

// -- storage of the Functions host and the deployment package ---------------------------------------------------
resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  //checkov:skip=CKV_AZURE_35:The Flex Consumption app reaches its host storage and package over the public endpoint with Entra ID only (shared keys are disabled); a private network is out of this template's scope.
  //checkov:skip=CKV_AZURE_43:The name is computed (prefix + uniqueString, cut to 24 lower-case letters and digits), which checkov cannot evaluate.
  name: take('${prefix}${uniqueString(resourceGroup().id)}', 24)
  location: location
  kind: 'StorageV2'
  sku: {
    name: 'Standard_GZRS'
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    supportsHttpsTrafficOnly: true
    defaultToOAuthAuthentication: true
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource packages 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobs
  name: deploymentContainer
  properties: {
    publicAccess: 'None'
  }
}

resource workPackages 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = if (twoApps) {
  parent: blobs
  name: workDeploymentContainer
  properties: {
    publicAccess: 'None'
  }
}

// -- Cosmos DB (serverless; Entra ID only) ----------------------------------------------------------------------
resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  //checkov:skip=CKV_AZURE_101:The Flex Consumption app reaches Cosmos DB over the public endpoint with Entra ID only (local auth is disabled); a private endpoint is out of this template's scope.
  //checkov:skip=CKV_AZURE_99:Same: access is restricted by identity (disableLocalAuth), not by network.
  name: '${prefix}-cosmos'
  location: location
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    capabilities: [
      {
        name: 'EnableServerless'
      }
    ]
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    backupPolicy: {
      type: 'Continuous'
      continuousModeProperties: {
        tier: 'Continuous7Days'
      }
    }
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: cosmos
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
  }
}

// Partition keys and indexes: fooddelivery_azure.cosmos.containers says why (a test keeps the two equal). The
// 'sagas' container is the earlier layout's, declared only when sagasContainer = 'sagas' (sagasCosmosContainer below).
// By default the saga instances live in their orders' partitions of 'orders' (app setting COSMOS_SAGAS_CONTAINER).
var containers = [
  {
    name: 'orders'
    partitionKey: '/orderId'
    compositeIndexes: [
      [
        {
          path: '/createdAt'
          order: 'descending'
        }
        {
          path: '/orderId'
          order: 'descending'
        }
      ]
      [
        {
          path: '/createdAt'
          order: 'ascending'
        }
        {
          path: '/orderId'
          order: 'ascending'
        }
      ]
    ]
    spatialIndexes: []
  }
  {
    name: 'restaurants'
    partitionKey: '/restaurantId'
    compositeIndexes: [
      [
        {
          path: '/rankKey'
          order: 'ascending'
        }
        {
          path: '/restaurantId'
          order: 'ascending'
        }
      ]
    ]
    spatialIndexes: [
      {
        path: '/location/*'
        types: [
          'Point'
        ]
      }
    ]
  }
  {
    name: 'drivers'
    partitionKey: '/driverId'
    compositeIndexes: []
    spatialIndexes: [
      {
        path: '/location/*'
        types: [
          'Point'
        ]
      }
    ]
  }
  {
    name: 'timers'
    partitionKey: '/messageId'
    compositeIndexes: []
    spatialIndexes: []
  }
  {
    name: 'leases'
    partitionKey: '/id'
    compositeIndexes: []
    spatialIndexes: []
  }
]

resource cosmosContainers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = [
  for c in containers: {
    parent: database
    name: c.name
    properties: {
      resource: {
        id: c.name
        partitionKey: {
          paths: [
            c.partitionKey
          ]
          kind: 'Hash'
        }
        indexingPolicy: {
          indexingMode: 'consistent'
          automatic: true
          includedPaths: [
            {
              path: '/*'
            }
          ]
          excludedPaths: [
            {
              path: '/"_etag"/?'
            }
          ]
          compositeIndexes: c.compositeIndexes
          spatialIndexes: c.spatialIndexes
        }
      }
    }
  }
]

// The earlier layout's container of saga instances (fooddelivery_azure.cosmos.containers.SAGAS), only when
// sagasContainer = 'sagas': the definition deployments made before the native unit of work had (the entry the list
// above then held), so keeping the layout changes nothing of the container; with 'orders' it is not declared, and an
// incremental deployment leaves an existing one (and its instances) in place.
resource sagasCosmosContainer 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = if (sagasContainer == 'sagas') {
  parent: database
  name: 'sagas'
  properties: {
    resource: {
      id: 'sagas'
      partitionKey: {
        paths: [
          '/sagaId'
        ]
        kind: 'Hash'
      }
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        includedPaths: [
          {
            path: '/*'
          }
        ]
        excludedPaths: [
          {
            path: '/"_etag"/?'
          }
        ]
        compositeIndexes: []
        spatialIndexes: []
      }
    }
  }
}

// -- Service Bus (Standard: topics and sessions; Entra ID only) -------------------------------------------------
resource bus 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: '${prefix}-bus'
  location: location
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
  }
}

// The runtime's queue: one session per order (its events, timers and commands in order), duplicate detection on the
// message id (the event id), dead-lettering after maxDeliveryCount deliveries and on expiry.
resource runtimeQueue 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = {
  parent: bus
  name: runtimeQueueName
  properties: {
    requiresSession: true
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT10M'
    maxDeliveryCount: maxDeliveryCount
    lockDuration: 'PT1M'
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P14D'
  }
}

// Every event, for everyone else (analytics, notifications services...): session = order id, duplicate detection.
resource orderEvents 'Microsoft.ServiceBus/namespaces/topics@2022-10-01-preview' = {
  parent: bus
  name: orderEventsTopicName
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT10M'
    defaultMessageTimeToLive: 'P14D'
  }
}

resource analytics 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2022-10-01-preview' = {
  parent: orderEvents
  name: 'analytics'
  properties: {
    requiresSession: true
    maxDeliveryCount: maxDeliveryCount
    deadLetteringOnMessageExpiration: true
    deadLetteringOnFilterEvaluationExceptions: true
    lockDuration: 'PT1M'
  }
}

// Notifications: a 7-day duplicate detection window (the longest) makes "at most once per notification id" hold.
resource notifications 'Microsoft.ServiceBus/namespaces/topics@2022-10-01-preview' = {
  parent: bus
  name: notificationsTopicName
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'P7D'
    defaultMessageTimeToLive: 'P7D'
  }
}

resource notificationsAll 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2022-10-01-preview' = {
  parent: notifications
  name: 'delivery'
  properties: {
    maxDeliveryCount: maxDeliveryCount
    deadLetteringOnMessageExpiration: true
    deadLetteringOnFilterEvaluationExceptions: true
  }
}

resource locations 'Microsoft.ServiceBus/namespaces/topics@2022-10-01-preview' = {
  parent: bus
  name: locationsTopicName
  properties: {
    defaultMessageTimeToLive: 'PT1H'
  }
}

resource locationsTracking 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2022-10-01-preview' = {
  parent: locations
  name: 'tracking'
  properties: {
    requiresSession: true
    maxDeliveryCount: 3
    deadLetteringOnMessageExpiration: false
  }
}

// -- the Function App(s) (Flex Consumption, Linux, Python 3.11) -------------------------------------------------
// Every app setting but FOODDELIVERY_AZURE_FUNCTIONS, the same in both apps (the trigger connections,
// CosmosDBConnection and ServiceBusConnection, are read by the background functions only; they name endpoints, no
// secret). DURABLE_TASK_HUB and AzureWebJobsStorage name the same task hub in both: the HTTP app's Durable client
// starts and signals the orchestrations the background app runs (the HTTP app has no orchestration or activity
// trigger, so its host runs no task hub worker).
var sharedAppSettings = [
{
  name: 'AzureWebJobsStorage__accountName'
  value: storage.name
}
{
  name: 'AzureWebJobsStorage__credential'
  value: 'managedidentity'
}
{
  name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
  value: insights.properties.ConnectionString
}
{
  name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
  value: 'Authorization=AAD'
}
{
  name: 'CosmosDBConnection__accountEndpoint'
  value: cosmos.properties.documentEndpoint
}
{
  name: 'ServiceBusConnection__fullyQualifiedNamespace'
  value: '${bus.name}.servicebus.windows.net'
}
{
  name: 'COSMOS_ENDPOINT'
  value: cosmos.properties.documentEndpoint
}
{
  name: 'COSMOS_DATABASE'
  value: databaseName
}
{
  name: 'COSMOS_ORDERS_CONTAINER'
  value: 'orders'
}
{
  // 'orders' (default): the saga instances in their orders' partitions, one transactional batch per saga
  // step; 'sagas': the earlier layout, kept for a deployment with instances in flight there
  name: 'COSMOS_SAGAS_CONTAINER'
  value: sagasContainer
}
{
  name: 'SERVICEBUS_NAMESPACE'
  value: '${bus.name}.servicebus.windows.net'
}
{
  name: 'RUNTIME_QUEUE'
  value: runtimeQueueName
}
{
  name: 'ORDER_EVENTS_TOPIC'
  value: orderEventsTopicName
}
{
  name: 'NOTIFICATIONS_TOPIC'
  value: notificationsTopicName
}
{
  name: 'LOCATIONS_TOPIC'
  value: locationsTopicName
}
{
  name: 'FOODDELIVERY_SAGA_MODE'
  value: sagaMode
}
{
  name: 'DURABLE_TASK_HUB'
  value: taskHubName
}
{
  name: 'FOODDELIVERY_AUTH'
  value: authMode
}
{
  name: 'ENTRA_TENANT_ID'
  value: entraTenantId
}
{
  name: 'ENTRA_AUDIENCE'
  value: entraAudience
}
{
  name: 'FOODDELIVERY_PAYMENT_GATEWAY'
  value: paymentGateway
}
]

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  //checkov:skip=CKV_AZURE_225:Flex Consumption (FC1) plans have no zone-redundancy setting of their own.
  name: '${prefix}-plan'
  location: location
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  //checkov:skip=CKV_AZURE_222:This is the public API: it must be reachable; every route but /health and /openapi.json authenticates the caller.
  //checkov:skip=CKV_AZURE_17:Callers authenticate with bearer tokens (Entra ID), not client certificates.
  //checkov:skip=CKV_AZURE_212:Flex Consumption scales out on demand (up to maximumInstanceCount) and to zero when idle by design.
  name: '${prefix}-func'
  location: location
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      healthCheckPath: '/health'
      // the settings both apps share, and the functions this one registers (fooddelivery_azure.functions.apps)
      appSettings: concat(sharedAppSettings, [
        {
          name: 'FOODDELIVERY_AZURE_FUNCTIONS'
          value: twoApps ? 'http' : 'all'
        }
      ])
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: 100
        instanceMemoryMB: 2048
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// The background app (functionApps = 'two'): the same package, FOODDELIVERY_AZURE_FUNCTIONS=background. A plan and a
// package container of its own (a Flex Consumption plan hosts one app). A loop over workApps (its name, or none with
// 'one') rather than a condition: checkov reads a loop's body, not a conditional resource's.
var workApps = twoApps ? [
  '${prefix}-work'
] : []
resource workPlan 'Microsoft.Web/serverfarms@2024-04-01' = [
  for name in workApps: {
    //checkov:skip=CKV_AZURE_225:Flex Consumption (FC1) plans have no zone-redundancy setting of their own.
    name: '${name}-plan'
    location: location
    kind: 'functionapp'
    sku: {
      tier: 'FlexConsumption'
      name: 'FC1'
    }
    properties: {
      reserved: true
    }
  }
]

resource workApp 'Microsoft.Web/sites@2024-04-01' = [
  for (name, i) in workApps: {
    //checkov:skip=CKV_AZURE_222:It serves no HTTP function (triggers only); its public endpoint is where deploy.sh publishes the package (az functionapp deploy).
    //checkov:skip=CKV_AZURE_17:It serves no HTTP function: no caller to authenticate with a client certificate.
    //checkov:skip=CKV_AZURE_212:Flex Consumption scales out on demand (up to maximumInstanceCount) and to zero when idle by design.
    //checkov:skip=CKV_AZURE_213:It serves no HTTP function, so no health-check path: the platform watches its triggers.
    //checkov:skip=CKV_AZURE_18:http20Enabled is true (siteConfig below); checkov's check also needs the resource's apiVersion, which its Bicep reader does not carry into a loop's body (CKV_AZURE_67, the same setting, passes).
    name: name
    location: location
    kind: 'functionapp,linux'
    identity: {
      type: 'SystemAssigned'
    }
    properties: {
      serverFarmId: workPlan[i].id
      httpsOnly: true
      clientCertEnabled: false
      siteConfig: {
        minTlsVersion: '1.2'
        ftpsState: 'Disabled'
        http20Enabled: true
        appSettings: concat(sharedAppSettings, [
          {
            name: 'FOODDELIVERY_AZURE_FUNCTIONS'
            value: 'background'
          }
        ])
      }
      functionAppConfig: {
        deployment: {
          storage: {
            type: 'blobContainer'
            value: '${storage.properties.primaryEndpoints.blob}${workDeploymentContainer}'
            authentication: {
              type: 'SystemAssignedIdentity'
            }
          }
        }
        scaleAndConcurrency: {
          maximumInstanceCount: 100
          instanceMemoryMB: 2048
        }
        runtime: {
          name: 'python'
          version: '3.11'
        }
      }
    }
  }
]

// -- role assignments of the app's identity ---------------------------------------------------------------------
var storageRoles = [
  storageBlobDataOwner
  storageQueueDataContributor
  storageTableDataContributor
]

// The HTTP app of two: blob (its host's storage and package) always; queue and table (the task hub) only when its
// Durable client reaches the task hub (sagaMode 'durable').
var appStorageRoles = (twoApps && sagaMode != 'durable') ? [storageBlobDataOwner] : storageRoles

resource storageAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in appStorageRoles: {
    name: guid(storage.id, app.id, role)
    scope: storage
    properties: {
      principalId: app.identity.principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    }
  }
]

var busRoles = [
  serviceBusDataSender
  serviceBusDataReceiver
]

// The HTTP app of two sends only (the change feed's relay and the runtime queue's function, which receive, run in
// the background app).
var appBusRoles = twoApps ? [serviceBusDataSender] : busRoles

resource busAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in appBusRoles: {
    name: guid(bus.id, app.id, role)
    scope: bus
    properties: {
      principalId: app.identity.principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    }
  }
]

resource telemetryAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, app.id, monitoringMetricsPublisher)
  scope: insights
  properties: {
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
  }
}

resource cosmosAccess 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = {
  parent: cosmos
  name: guid(cosmos.id, app.id, cosmosDataContributor)
  properties: {
    principalId: app.identity.principalId
    roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/${cosmosDataContributor}'
    scope: cosmos.id
  }
}

// the background app's role assignments (functionApps = 'two'): what the single app has (none with 'one': empty lists)
var workStorageRoles = twoApps ? storageRoles : []
var workBusRoles = twoApps ? busRoles : []

resource workStorageAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in workStorageRoles: {
    name: guid(storage.id, workApp[0].id, role)
    scope: storage
    properties: {
      principalId: workApp[0].identity.principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    }
  }
]

resource workBusAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in workBusRoles: {
    name: guid(bus.id, workApp[0].id, role)
    scope: bus
    properties: {
      principalId: workApp[0].identity.principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    }
  }
]

resource workTelemetryAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (name, i) in workApps: {
    name: guid(insights.id, workApp[i].id, monitoringMetricsPublisher)
    scope: insights
    properties: {
      principalId: workApp[i].identity.principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    }
  }
]

resource workCosmosAccess 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = [
  for (name, i) in workApps: {
    parent: cosmos
    name: guid(cosmos.id, workApp[i].id, cosmosDataContributor)
    properties: {
      principalId: workApp[i].identity.principalId
      roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/${cosmosDataContributor}'
      scope: cosmos.id
    }
  }
]

output functionAppName string = app.name
output functionAppHostName string = app.properties.defaultHostName
// the background app's name ('two'), or '' ('one': the functionApp runs everything)
output workFunctionAppName string = twoApps ? workApp[0].name : ''
output cosmosEndpoint string = cosmos.properties.documentEndpoint
output serviceBusNamespace string = '${bus.name}.servicebus.windows.net'
