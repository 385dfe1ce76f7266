export {
  startMotoServer, findMotoServer, MOTO_ACCOUNT_ID, MOTO_ADMIN_CREDENTIALS, MOTO_INSTALL_HINT,
  type MotoServer, type MotoServerOptions,
} from './moto-server.ts';
